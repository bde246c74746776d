"""Issue 14, item 3: with the shared cache unreachable (pointed at a dead port), every request
path that touches it degrades instead of failing: the cache only makes things cheaper or tidier
(circuit states, rate-limit counts, cached health, "warned already" markers, drain leases), so a
request goes on without it. /readyz alone reports it, which is its job."""

from __future__ import annotations

import json
import logging
import socket
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from tests.webhooks.conftest import WHSEC
from tests.webhooks.vendors import API, as_json, standard_headers
from webhooks.models import InboundEvent
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate
from wedsync_integrations.usage.tokens import issue_token

pytestmark = pytest.mark.django_db

SCRAPE_TOKEN = "tenant-scrape-token-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def dead_cache(settings):
    """The default cache is Redis on a port where nothing listens: every call raises ConnectionError."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    from django.core.cache import cache

    with pytest.raises(Exception, match="(?i)connect"):
        cache.get("proof-the-cache-is-down")


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_usage_ingest_stores_the_batch(client, organisation, dead_cache, caplog):
    ExchangeRate.objects.create(date=date(2026, 1, 1), rate="0.79")  # over a month old: a warning marker is kept
    token = issue_token(organisation, created_by="test")
    record = {"request_id": "r-1", "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
              "feature": "email_template", "provider": "openai", "model": "gpt-4o-mini", "latency_ms": 930,
              "cost_usd": "0.0041", "outcome": "ok"}  # fmt: skip

    with caplog.at_level(logging.WARNING):
        response = client.post("/api/v1/usage/", data=json.dumps({"records": [record]}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip

    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert AIUsageRecord.objects.count() == 1
    assert any("usage.stale_rate" in message for message in caplog.messages)  # warned, if not deduplicated


def test_a_tenant_scrape_and_a_platform_scrape_answer(client, organisation, make_config, dead_cache, settings):
    make_config("monitoring", organisation, "prometheus", secrets={"bearer_token": SCRAPE_TOKEN})
    settings.MONITORING_SCRAPE_TOKEN = "platform-scrape-token-0123456789"

    tenant = client.get(f"/metrics/ai/{organisation.slug}", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    platform = client.get("/metrics/ai", HTTP_AUTHORIZATION="Bearer platform-scrape-token-0123456789")

    assert tenant.status_code == 200 and platform.status_code == 200
    assert b"wedsync_ai" in tenant.content


def test_a_signed_webhook_is_stored(client, organisation, make_config, dead_cache):
    make_config("webhooks", organisation, "generic", secrets={"signing_secret": WHSEC})
    body = as_json({"type": "crm.client.created", "data": {"id": "c_1"}})

    headers = standard_headers(WHSEC, "msg_1", body)

    response = client.generic(
        "POST", f"{API}/generic/{organisation.slug}/", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


def test_the_admin_pages_and_actions_work(staff, organisation, make_config, fake_provider, dead_cache):
    config = make_config("monitoring", organisation, "fake")
    changelist = reverse("admin:monitoring_monitoringconfig_changelist")
    change = reverse("admin:monitoring_monitoringconfig_change", args=[config.pk])

    assert staff.get(changelist).status_code == 200  # every row's circuit state
    assert staff.get(change).status_code == 200  # the live health, cached
    for action in ("test_connection", "resume_configs"):
        response = staff.post(changelist, {"action": action, "_selected_action": [config.pk]})
        assert response.status_code == 302, action
    saved = staff.post(change, {"organisation": organisation.pk, "provider": "fake", "enabled": "on", "settings": "{}"})
    assert saved.status_code == 302


def test_replay_now_keeps_the_item_for_later_instead_of_failing(staff, organisation, make_config, fake_provider,
                                                                dead_cache):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    type(item).objects.filter(pk=item.pk).update(state=RetryState.DEAD)

    response = staff.post(reverse("admin:monitoring_monitoringretryitem_changelist"),
                          {"action": "replay_now", "_selected_action": [item.pk]})  # fmt: skip

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state in (RetryState.PENDING, RetryState.SUCCEEDED)  # due again, never lost


def test_readyz_reports_the_cache_as_down(client, dead_cache):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {"ok": False, "error": "ConnectionError"}


def test_view_only_staff_see_the_config_pages(client, django_user_model, organisation, make_config, fake_provider,
                                              dead_cache):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringconfig"))
    client.force_login(viewer)

    assert client.get(reverse("admin:monitoring_monitoringconfig_change", args=[config.pk])).status_code == 200


def test_a_redis_cache_gives_up_on_an_unanswering_server_within_a_second():
    """A dead port refuses at once; a black-holed host would hold each request for the OS's
    connect timeout (minutes) before the request could carry on without the cache."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wedsync_integrations.settings",
        "CACHE_URL": "redis://10.255.255.1:6379/1",
    }
    code = "from django.conf import settings; print(sorted(settings.CACHES['default']['OPTIONS'].items()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[('socket_connect_timeout', 1.0), ('socket_timeout', 1.0)]"

"""Pushgateway pushes: the exact request, optional basic auth (docs/vendors/prometheus.md), and its settings
through validation, `integrations apply` and `integrations export`."""

import json
import logging
from datetime import timedelta

import pytest
import responses
from django.db import connection
from freezegun import freeze_time

from monitoring.sync import sync_monitoring
from wedsync_integrations.integrations import config_io, health, outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family, validate_config_data

from .conftest import HOUR, NOW, SCRAPE_TOKEN

pytestmark = pytest.mark.django_db
family = get_family("monitoring")
GATEWAY = "http://localhost:9091"
PUSH_URL = GATEWAY + "/metrics/job/wedsync_ai/org/acme"
USER = "wedsync-push"
PASSWORD = "s3cret: pässwörd"  # a colon and non-ASCII: only the user name ends at the first colon
# base64 of the UTF-8 bytes of "wedsync-push:s3cret: pässwörd" (RFC 7617 with charset UTF-8)
BASIC = "Basic d2Vkc3luYy1wdXNoOnMzY3JldDogcMOkc3N3w7ZyZA=="


@pytest.fixture
def gateway_config(make_config, organisation):
    def make(username=None, password=None):
        settings = {"pushgateway_url": GATEWAY}
        secrets = {"bearer_token": SCRAPE_TOKEN}
        if username:
            settings["pushgateway_username"] = username
        if password:
            secrets["pushgateway_password"] = password
        return make_config("monitoring", organisation, "prometheus", settings=settings, secrets=secrets)

    return make


@responses.activate
def test_a_push_carries_basic_auth_when_user_and_password_are_set(organisation, make_rollup, gateway_config):
    config = gateway_config(USER, PASSWORD)
    make_rollup(organisation, HOUR)
    responses.add(responses.PUT, PUSH_URL, status=200)
    responses.add(responses.GET, GATEWAY + "/-/healthy", body="OK\n")
    with freeze_time(NOW):
        result = sync_monitoring(config)
        probe = health.check(config)
    assert (result.queued, result.delivered) == (1, 1) and probe["ok"]
    push, healthy = responses.calls
    assert (push.request.method, push.request.url) == ("PUT", PUSH_URL)
    assert push.request.headers["Authorization"] == BASIC
    assert push.request.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = push.request.body.decode()
    assert 'wedsync_ai_requests_total{context="wedding_industry",env="dev",feature="email_template"' in body
    assert (healthy.request.method, healthy.request.url) == ("GET", GATEWAY + "/-/healthy")
    assert healthy.request.headers["Authorization"] == BASIC


@responses.activate
def test_without_credentials_the_push_has_no_authorization_header(organisation, make_rollup, gateway_config):
    config = gateway_config()
    make_rollup(organisation, HOUR)
    responses.add(responses.PUT, PUSH_URL, status=200)
    with freeze_time(NOW):
        assert sync_monitoring(config).delivered == 1
    (push,) = responses.calls
    assert "Authorization" not in push.request.headers


@responses.activate
def test_a_refused_password_stops_the_config_keeps_the_push_and_is_never_logged(
    organisation, make_rollup, gateway_config, caplog
):
    config = gateway_config(USER, PASSWORD)
    make_rollup(organisation, HOUR)
    # a gateway that echoes what it was sent must not put the password into our records either
    responses.add(responses.PUT, PUSH_URL, status=401, body=f"Unauthorized {PASSWORD}")
    caplog.set_level(logging.DEBUG)
    with freeze_time(NOW):
        sync_monitoring(config)
    config.refresh_from_db()
    item = family.retry_model.objects.get()
    assert config.status == ConfigStatus.STOPPED and item.state == RetryState.PENDING
    log = family.sync_log_model.objects.get()
    assert log.http_status == 401 and "Unauthorized ***" in log.error
    stored = " ".join([log.error, item.last_error, config.status_reason, config.last_error, caplog.text])
    assert PASSWORD not in stored and BASIC.split()[1] not in stored

    # staff put the right password in and resume: the held push goes out with it
    document = config_io.export(org_slug="acme")
    document["organisations"][0]["integrations"][0]["secrets"]["pushgateway_password"] = "n3w-passw0rd"
    config_io.apply(document)
    config.refresh_from_db()
    responses.replace(responses.PUT, PUSH_URL, status=200)
    with freeze_time(NOW + timedelta(minutes=5)):
        outbox.resume_config(config)
        outbox.drain_pair(family, organisation.pk, "prometheus")
    assert len(responses.calls) == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Basic d2Vkc3luYy1wdXNoOm4zdy1wYXNzdzByZA=="
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED


@pytest.mark.parametrize(
    ("settings", "secrets", "errors"),
    [
        ({"pushgateway_username": USER}, {}, {
            "secrets.pushgateway_password": "required when pushgateway_username is set (Pushgateway basic auth "
            "needs both the user name and the password)",
        }),
        ({}, {"pushgateway_password": PASSWORD}, {
            "settings.pushgateway_username": "required when pushgateway_password is set (Pushgateway basic auth "
            "needs both the user name and the password)",
        }),
        ({"pushgateway_username": "wed:sync"}, {"pushgateway_password": PASSWORD}, {
            "settings.pushgateway_username": "must not contain a colon or control characters",
        }),
        ({"pushgateway_username": USER}, {"pushgateway_password": PASSWORD}, {}),
        ({"pushgateway_username": ""}, {"pushgateway_password": ""}, {}),  # both cleared: no auth
        ({}, {}, {}),
    ],
)  # fmt: skip
def test_basic_auth_needs_both_the_user_name_and_the_password(settings, secrets, errors):
    provider = family.provider("prometheus")
    settings = {"pushgateway_url": GATEWAY, **settings}
    secrets = {"bearer_token": SCRAPE_TOKEN, **secrets}
    assert validate_config_data(provider, settings, secrets, partial_secrets=False) == errors


def prometheus_document(settings: dict, secrets: dict) -> dict:
    integration = {"family": "monitoring", "provider": "prometheus", "settings": settings, "secrets": secrets}
    organisation = {"slug": "acme", "name": "Acme", "vendor_type": "photographer", "integrations": [integration]}
    return {"organisations": [organisation]}


def test_apply_stores_the_password_encrypted_and_export_redacts_it(organisation):
    settings = {"pushgateway_url": GATEWAY, "pushgateway_username": USER}
    config_io.apply(prometheus_document(settings, {"bearer_token": SCRAPE_TOKEN, "pushgateway_password": PASSWORD}))
    config = family.config_model.objects.get(organisation=organisation, provider="prometheus")
    assert config.settings == settings and config.secrets["pushgateway_password"] == PASSWORD
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {config._meta.db_table} WHERE id = %s", [config.pk])
        (raw,) = cursor.fetchone()
    assert "s3cret" not in raw and SCRAPE_TOKEN not in raw

    exported = config_io.export(org_slug="acme")
    (integration,) = exported["organisations"][0]["integrations"]
    assert integration["settings"] == settings
    assert integration["secrets"] == {"bearer_token": "***", "pushgateway_password": "***"}
    assert "s3cret" not in json.dumps(exported)
    report = config_io.apply(exported)  # export | apply changes nothing
    assert (report.created, report.updated) == ([], [])

    # the user name alone is refused, named by its path, and nothing is written
    lone = prometheus_document({"pushgateway_url": GATEWAY, "pushgateway_username": "other"}, {})
    lone["organisations"][0]["integrations"][0]["secrets"] = {"pushgateway_password": ""}
    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(lone)
    assert caught.value.errors == [
        "organisations[0].integrations[0].secrets.pushgateway_password: required when pushgateway_username is set "
        "(Pushgateway basic auth needs both the user name and the password)"
    ]
    config.refresh_from_db()
    assert config.settings["pushgateway_username"] == USER

    # dropping the user name and clearing the password turns basic auth off, and still round-trips
    config_io.apply(prometheus_document({"pushgateway_url": GATEWAY}, {"pushgateway_password": ""}))
    config.refresh_from_db()
    assert config.settings == {"pushgateway_url": GATEWAY}
    assert config.get_provider().pushgateway_headers() == {}
    exported = config_io.export(org_slug="acme")
    assert exported["organisations"][0]["integrations"][0]["secrets"] == {
        "bearer_token": "***",
        "pushgateway_password": "",  # nothing to hide, and "***" would mean "keep a stored value"
    }
    report = config_io.apply(exported)
    assert (report.created, report.updated) == ([], [])

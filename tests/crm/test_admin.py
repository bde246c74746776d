"""Admin: what each vendor allows, said plainly; a report preview per organisation and month; what
each CRM received and when, with replay; no secret on any page."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth.models import Permission
from django.urls import reverse
from freezegun import freeze_time

from crm.sync import sync_crm
from tests.fixtures import load
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import HOOK_URL, JUNE, LIGHT_BLUE_API, LIGHT_BLUE_KEY, NOW, TAVE_API, TAVE_KEY

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("alice", "alice@example.com", "pw"))
    return client


@pytest.fixture
def sent(organisation, usage, tave_config, honeybook_config, lightblue_config):
    """June reported to all three: Tave and Zapier took it, Light Blue was down."""
    usage(organisation, JUNE, requests=100)
    configs = tave_config(), honeybook_config(), lightblue_config()
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(f"{TAVE_API}/note", status=201, json=load("crm", "tave", "note_created"))
        api.post(HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        api.post(LIGHT_BLUE_API, status=400, body="-3 You've supplied an invalid API request type")
        for config in configs:
            sync_crm(config, now=NOW)
    return configs


def test_each_configuration_says_what_its_vendor_allows(staff_client, sent):
    tave, honeybook, lightblue = sent
    pages = {
        config.provider: staff_client.get(reverse("admin:crm_crmconfig_change", args=[config.pk])).content.decode()
        for config in sent
    }
    assert "HoneyBook has no public API, OAuth or webhook contract" in pages["honeybook"]
    assert "Light Blue&#x27;s API is inbound-only" in pages["lightblue"]
    assert "cannot read, update or delete anything there, and does not scrape" in pages["lightblue"]
    assert "Real REST API (VSCO Workspace v2)" in pages["tave"]
    listing = staff_client.get(reverse("admin:crm_crmconfig_changelist")).content.decode()
    assert "HoneyBook (via the studio&#x27;s Zapier zap: HoneyBook has no public API)" in pages["honeybook"]
    assert "Light Blue (send to the studio&#x27;s Inbox only: no reads or updates)" in pages["lightblue"]
    assert 'value="send_due_reports"' in listing and "Preview a value report" in listing
    for page in (*pages.values(), listing):
        for secret in (TAVE_KEY, LIGHT_BLUE_KEY, HOOK_URL, "abcdef"):
            assert secret not in page


def test_the_preview_shows_the_one_report_as_each_crm_receives_it(staff_client, organisation, usage):
    usage(organisation, JUNE, requests=100)
    url = reverse("admin:crm_report_preview")
    page = staff_client.get(url, {"organisation": "acme", "month": "2026-06"}).content.decode()
    for rendering in ('id="tave-note"', 'id="lightblue-message"', 'id="zapier-json"'):
        assert rendering in page
    assert "<li>Time saved: 25 hours (15 minutes per completed request)</li>" in page  # Tave's HTML, rendered
    assert "- Cost savings: £250.00" in page  # Light Blue's text
    assert "&quot;revenue_opportunity_gbp&quot;: &quot;1000.00&quot;" in page  # the zap's JSON
    assert "wedsync:acme:2026-06" in page
    bad = staff_client.get(url, {"organisation": "acme", "month": "June"}).content.decode()
    assert "is not a month written YYYY-MM" in bad


def test_the_reports_page_shows_what_each_crm_received_and_when_and_replays(staff_client, sent):
    url = reverse("admin:crm_crmreport_changelist")
    page = staff_client.get(url).content.decode()
    assert "note_id: 01h35ccwymj5ctckp8px1azhg6" in page
    assert "request_id: 5f6de14c-5bd5-4c98-8e58-309c5dc66da0" in page
    assert "failed" in page and 'value="replay"' in page
    dead = FAMILY.retry_model.objects.get(provider="lightblue")
    assert dead.state == RetryState.DEAD
    detail = staff_client.get(reverse("admin:crm_crmreport_change", args=[dead.report.pk])).content.decode()
    assert "wedsync:acme:2026-06" in detail and "contact form" in detail and LIGHT_BLUE_KEY not in detail
    with responses.RequestsMock() as api:
        api.post(LIGHT_BLUE_API, body="0")
        staff_client.post(url, {"action": "replay", "_selected_action": [dead.report.pk]})
        assert len(api.calls) == 1
    dead.refresh_from_db()
    assert dead.state == RetryState.SUCCEEDED
    assert FAMILY.audit_model.objects.filter(action="replay", target_id=str(dead.pk)).exists()


def test_staff_who_may_only_view_cannot_replay(client, django_user_model, sent):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_crmreport", "view_crmconfig"]))
    client.force_login(viewer)
    page = client.get(reverse("admin:crm_crmreport_changelist")).content.decode()
    assert 'value="replay"' not in page
    dead = FAMILY.retry_model.objects.get(provider="lightblue")
    with responses.RequestsMock() as api:  # nothing may reach Light Blue
        client.post(reverse("admin:crm_crmreport_changelist"), {"action": "replay", "_selected_action": [dead.pk]})
        assert not api.calls
    preview = client.get(reverse("admin:crm_report_preview"), {"organisation": "acme", "month": "2026-06"})
    assert preview.status_code == 200  # viewing a preview sends nothing


def test_linked_jobs_are_listed(staff_client, organisation, make_wedding):
    from datetime import date

    from crm.models import JobLink

    wedding = make_wedding(organisation, date(2026, 9, 12))
    JobLink.objects.create(organisation=organisation, job_id="01h35ccwymj5ctckp8px1azhg6", wedding=wedding,
                           job_name="Harper & Lee Wedding")  # fmt: skip
    page = staff_client.get(reverse("admin:crm_joblink_changelist")).content.decode()
    assert "01h35ccwymj5ctckp8px1azhg6" in page and "Harper &amp; Lee Wedding" in page


def test_staff_subscribe_taves_rest_hooks_to_our_webhook_url(staff_client, organisation, tave_config, webhook_config,
                                                              settings):  # fmt: skip
    import json

    from tests.webhooks.cases import TAVE_TOKEN

    settings.PUBLIC_BASE_URL = "https://integrations.wedsync.example"
    tave = tave_config()
    webhook_config("tave", organisation, TAVE_TOKEN)

    def ours(event):
        return (f"https://integrations.wedsync.example/api/webhooks/ai-integrations/tave/acme/"
                f"?token={TAVE_TOKEN}&event={event}")  # fmt: skip

    existing = {"id": "01h35ccwymj5ctckp8px1azhg6", "event": "job.created", "url": ours("job.created")}
    listing = {"type": "resthook-collection", "items": [existing], "meta": {"currentPage": 1, "totalPages": 1}}
    url = reverse("admin:crm_crmconfig_changelist")
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/rest-hook", json=listing)
        api.post(f"{TAVE_API}/rest-hook", status=201, json={"id": "01fqcr215r79p3h19crqbpzwzh"})
        page = staff_client.post(url, {"action": "subscribe_tave_hooks", "_selected_action": [tave.pk]}, follow=True)
        posts = [json.loads(call.request.body) for call in api.calls if call.request.method == "POST"]
        assert all(call.request.headers["X-API-KEY"] == TAVE_KEY for call in api.calls)
    # job.created was there already
    assert posts == [{"event": event, "url": ours(event)} for event in ("contact.created", "order.booked")]
    text = page.content.decode()
    assert "subscribed contact.created, order.booked" in text and TAVE_TOKEN not in text
    assert FAMILY.audit_model.objects.filter(action="subscribe_rest_hooks").count() == 1


def test_without_taves_webhook_source_nothing_is_subscribed(staff_client, tave_config):
    tave = tave_config()
    with responses.RequestsMock():
        action = {"action": "subscribe_tave_hooks", "_selected_action": [tave.pk]}
        page = staff_client.post(reverse("admin:crm_crmconfig_changelist"), action, follow=True)
    assert "configure the organisation&#x27;s Tave webhook source (its URL token) first" in page.content.decode()


def test_monthly_summaries_can_be_seen_and_deleted_to_be_summed_again(staff_client, organisation, usage):
    from crm import value
    from crm.models import MonthlyUsage

    from .conftest import NOW

    usage(organisation, JUNE, requests=100)
    value.build_report(organisation, JUNE, now=NOW)
    june = MonthlyUsage.objects.get(organisation=organisation, month=JUNE.first_day)
    url = reverse("admin:crm_monthlyusage_changelist")
    assert ">100<" in staff_client.get(url).content.decode()
    staff_client.post(url, {"action": "delete_selected", "_selected_action": [june.pk], "post": "yes"})
    assert not MonthlyUsage.objects.filter(pk=june.pk).exists()

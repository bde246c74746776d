"""Admin: the reprocess action is really offered and works (audited); secrets are write-only;
rejected attempts are read-only evidence; source settings and secrets are validated."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from webhooks.family import FAMILY
from webhooks.models import EventStatus, InboundEvent, RejectedAttempt, WebhookAuditEntry, WebhookConfig
from wedsync_integrations.integrations.registry import validate_config_data

from .cases import TAVE_TOKEN, WHSEC

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("alice", "alice@wedsync.example", "pw-alice-123")
    client.force_login(user)
    return client


@pytest.fixture
def failed_event(organisation):
    return InboundEvent.objects.create(
        source="generic", organisation=organisation, event_type="crm.client.created", external_id="msg_1",
        dedupe_key="d1", payload={"data": {}}, status=EventStatus.FAILED, attempts=8, last_error="boom",
    )  # fmt: skip


def test_the_reprocess_action_is_offered_on_the_event_list(staff_client, failed_event):
    response = staff_client.get(reverse("admin:webhooks_inboundevent_changelist"))
    assert response.status_code == 200
    actions = [value for value, _ in response.context["action_form"].fields["action"].choices]
    assert "reprocess" in actions
    assert b"Failed: needs staff" in response.content


def test_reprocess_from_admin_runs_the_event_and_records_who_did_it(staff_client, failed_event, handled):
    handled("generic", "crm.client.created")
    response = staff_client.post(
        reverse("admin:webhooks_inboundevent_changelist"),
        {"action": "reprocess", "_selected_action": [failed_event.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed_event.refresh_from_db()
    assert failed_event.status == EventStatus.PROCESSED
    entry = WebhookAuditEntry.objects.get(action="reprocess")
    assert (entry.actor, entry.target_id) == ("admin:alice", str(failed_event.pk))
    assert "Reprocessed 1 event(s): processed 1" in response.content.decode()


def test_event_detail_page_shows_the_payload_and_cannot_be_edited(staff_client, failed_event):
    InboundEvent.objects.filter(pk=failed_event.pk).update(
        payload={"data": {"note": "<b>Smith & Jones</b>"}}, headers={"webhook-id": "msg_1"}
    )
    url = reverse("admin:webhooks_inboundevent_change", args=[failed_event.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and b"crm.client.created" in page.content
    html = page.content.decode()
    assert "&quot;note&quot;: &quot;&lt;b&gt;Smith &amp; Jones&lt;/b&gt;&quot;" in html  # shown, escaped
    assert "<b>Smith" not in html
    assert "&quot;webhook-id&quot;: &quot;msg_1&quot;" in html
    assert b'name="_save"' not in page.content  # nothing to save: a save would overwrite a worker's progress
    assert staff_client.post(url, {"status": "processed"}).status_code == 403
    failed_event.refresh_from_db()
    assert failed_event.status == EventStatus.FAILED


def test_only_staff_allowed_to_change_events_may_reprocess_them(client, failed_event, handled):
    handled("generic", "crm.client.created")
    viewer = get_user_model().objects.create_user("bob", "bob@wedsync.example", "pw-bob-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inboundevent"))
    client.force_login(viewer)
    changelist = reverse("admin:webhooks_inboundevent_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and page.context["action_form"] is None  # no actions offered
    client.post(changelist, {"action": "reprocess", "_selected_action": [failed_event.pk]})
    failed_event.refresh_from_db()
    assert failed_event.status == EventStatus.FAILED and handled.seen == []
    assert not WebhookAuditEntry.objects.exists()


def test_rejected_attempts_are_read_only(staff_client, organisation):
    RejectedAttempt.objects.create(source="generic", organisation=organisation, reason="bad_signature")
    assert staff_client.get(reverse("admin:webhooks_rejectedattempt_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:webhooks_rejectedattempt_add")).status_code == 403


def test_source_secrets_are_write_only_in_the_config_admin(staff_client, organisation):
    config = WebhookConfig.objects.create(
        organisation=organisation, provider="generic", secrets={"signing_secret": WHSEC}
    )
    page = staff_client.get(reverse("admin:webhooks_webhookconfig_change", args=[config.pk]))
    assert page.status_code == 200
    assert WHSEC.encode() not in page.content and b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in page.content
    assert b"Set \xe2\x80\x94 leave blank to keep it" in page.content


@pytest.mark.parametrize(
    "source, secrets, error",
    [
        ("generic", {"signing_secret": "not-a-whsec-secret"}, "secrets.signing_secret"),
        ("generic", {"signing_secret": "whsec_c2hvcnQ="}, "secrets.signing_secret"),  # 5-byte key
        ("honeybook", {"signing_secret": "whsec_!!notbase64!!"}, "secrets.signing_secret"),
        ("tave", {"signing_secret": "short-token"}, "secrets.signing_secret"),
        ("datadog", {"signing_secret": "too-short"}, "secrets.signing_secret"),
        ("pagerduty", {}, "secrets.signing_secret"),
    ],
)
def test_bad_secrets_are_refused_without_echoing_them(source, secrets, error):
    errors = validate_config_data(FAMILY.provider(source), {}, secrets, partial_secrets=False)
    assert error in errors
    for value in secrets.values():
        assert value not in errors[error]


@pytest.mark.parametrize(
    "source, source_settings, secrets",
    [
        ("generic", {}, {"signing_secret": WHSEC}),
        ("tave", {}, {"signing_secret": TAVE_TOKEN}),
        ("datadog", {"auth": "standard_webhooks"}, {"signing_secret": WHSEC}),
        ("newrelic", {"token_header": "X-WedSync-Token"}, {"signing_secret": "n" * 32}),
        ("xero", {"tenant_id": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"}, {"signing_secret": "xero-key-0001"}),
        ("quickbooks", {"realm_id": "9130355", "rate_limit_per_minute": 500}, {"signing_secret": "qbo-verifier"}),
        ("freshbooks", {"pending_callback_id": "2001"}, {}),
        ("slack", {"team_id": "T1DC2JH3J", "timestamp_tolerance_seconds": 120}, {"signing_secret": "8f742231b10e"}),
    ],
)
def test_good_source_configurations_validate(source, source_settings, secrets):
    assert validate_config_data(FAMILY.provider(source), source_settings, secrets, partial_secrets=False) == {}


def test_unknown_settings_are_named_in_the_error():
    errors = validate_config_data(FAMILY.provider("generic"), {"rate_limit": 5}, {"signing_secret": WHSEC},
                                  partial_secrets=False)  # fmt: skip
    assert errors == {"settings.rate_limit": "unknown setting"}


def test_health_says_inbound_only_and_gives_the_endpoint(organisation, settings):
    settings.PUBLIC_BASE_URL = "https://hooks.wedsync.example"
    config = WebhookConfig.objects.create(organisation=organisation, provider="pagerduty",
                                          secrets={"signing_secret": "pd-secret-0001"})  # fmt: skip
    result = config.get_provider().check_health()
    assert result.ok
    assert result.message == (
        "inbound only: signing secret set; endpoint https://hooks.wedsync.example/api/webhooks/ai-integrations/pagerduty/acme/"
    )
    assert "pd-secret" not in result.message


def test_health_flags_a_standard_webhooks_alert_source_whose_secret_cannot_sign(organisation):
    config = WebhookConfig.objects.create(
        organisation=organisation,
        provider="datadog",
        settings={"auth": "standard_webhooks"},
        secrets={"signing_secret": "dd-shared-token-AAAAAAAAAAAAAAAAAAAA"},
    )
    result = config.get_provider().check_health()
    assert (result.ok, result.message) == (False, "auth is standard_webhooks but a signing secret is not whsec_…")
    config.secrets = {"signing_secret": WHSEC}
    assert config.get_provider().check_health().ok

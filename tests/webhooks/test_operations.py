"""Operating the endpoint: configuration through `integrations apply`, the `webhooks` command,
and the system checks."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask

from webhooks.checks import check_dispatch, check_public_url
from webhooks.models import EventStatus, InboundEvent, WebhookAuditEntry
from wedsync_integrations.integrations import config_io

from . import vendors
from .cases import WHSEC

pytestmark = pytest.mark.django_db


def test_a_source_is_configured_through_integrations_apply_and_then_accepts_signed_requests(post):
    document = {"organisations": [{"slug": "acme", "name": "Acme Photography", "vendor_type": "photographer",
                                   "integrations": [{"family": "webhooks", "provider": "generic",
                                                     "settings": {"rate_limit_per_minute": 50},
                                                     "secrets": {"signing_secret": WHSEC}}]}]}  # fmt: skip
    report = config_io.apply(config_io.load(json.dumps(document)))
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in "\n".join(report.lines())
    body = vendors.as_json({"type": "crm.client.created"})
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_1", body)).status_code == 200


def test_integrations_apply_refuses_a_bad_webhook_secret_naming_the_field():
    document = {"organisations": [{"slug": "acme", "name": "Acme", "vendor_type": "photographer",
                                   "integrations": [{"family": "webhooks", "provider": "generic",
                                                     "secrets": {"signing_secret": "plain-password"}}]}]}  # fmt: skip
    with pytest.raises(config_io.ConfigFileError) as info:
        config_io.apply(config_io.load(json.dumps(document)))
    assert "organisations[0].integrations[0].secrets.signing_secret" in str(info.value)
    assert "plain-password" not in str(info.value)


@pytest.fixture
def failed_events(organisation):
    return [
        InboundEvent.objects.create(
            source=source,
            organisation=organisation,
            event_type="crm.client.created",
            external_id=f"e{n}",
            dedupe_key=f"k{n}",
            payload={},
            status=status,
        )  # fmt: skip
        for n, (source, status) in enumerate(
            [("generic", EventStatus.FAILED), ("honeybook", EventStatus.FAILED), ("generic", EventStatus.PROCESSED)]
        )
    ]


def test_the_command_reprocesses_the_selected_events_and_audits_them(failed_events, handled):
    handled("generic", "crm.client.created")
    out = io.StringIO()
    call_command("webhooks", "reprocess", "--status", "failed", "--source", "generic", stdout=out)
    assert out.getvalue().strip() == "reprocessed 1 event(s): processed 1"
    assert [e.pk for e in handled.seen] == [failed_events[0].pk]
    assert WebhookAuditEntry.objects.get().actor == "cli:webhooks-reprocess"


def test_the_command_has_a_dry_run_and_refuses_an_unbounded_selection(failed_events):
    out = io.StringIO()
    call_command("webhooks", "reprocess", "--status", "failed", "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[-1] == "2 event(s) would be reprocessed"
    assert InboundEvent.objects.filter(status=EventStatus.FAILED).count() == 2
    with pytest.raises(CommandError, match="name the events"):
        call_command("webhooks", "reprocess")


def test_checks_catch_a_bad_dispatch_setting_and_a_private_public_url(settings):
    settings.WEBHOOK_DISPATCH = "sometimes"
    assert [e.id for e in check_dispatch()] == ["webhooks.E001"]
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    assert [w.id for w in check_public_url()] == ["webhooks.W001"]
    settings.PUBLIC_BASE_URL = "https://integrations.wedsync.example"
    assert check_public_url() == []


def test_beat_runs_the_sweeper_every_ten_seconds_and_the_other_housekeeping():
    """Without the sweeper, events of CRM and accounting sources are stored but never processed.
    (Matching accounting confirmations is the accounting family's schedule now.)"""
    entries = {task.task: task for task in PeriodicTask.objects.filter(task__startswith="webhooks.")}
    schedules = {name: (t.enabled, t.interval.every, t.interval.period) for name, t in entries.items()}
    assert schedules == {
        "webhooks.sweep": (True, 10, "seconds"),
        "webhooks.purge": (True, 1, "days"),
    }

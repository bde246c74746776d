"""The handlers the webhooks family owns: CRM events queue the organisation's syncs. (Accounting
webhooks are the accounting family's: tests/accounting/test_confirmations.py.)"""

from __future__ import annotations

import pytest

from webhooks.handlers import crm
from webhooks.models import EventStatus, InboundEvent
from wedsync_integrations.integrations.models import ConfigStatus

from . import vendors
from .cases import PUBLIC, TAVE_TOKEN, WHSEC

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_syncs(monkeypatch):
    from wedsync_integrations.integrations import tasks

    calls = []
    monkeypatch.setattr(tasks.sync_config, "delay", lambda *args: calls.append(args))
    return calls


@pytest.fixture(autouse=True)
def _public(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


# -- CRM ----------------------------------------------------------------------------------------------
def tave_new_client(post, target="01h35ccwymj5ctckp8px1azhg6", event="contact.created"):
    body = vendors.as_json({"targetId": target})
    return post("tave", "acme", body, {}, query=f"token={TAVE_TOKEN}&event={event}")


def test_a_tave_new_client_queues_the_organisations_metrics_syncs(
    post, organisation, make_organisation, webhook_config, make_config, queued_syncs, eager_celery
):
    webhook_config("tave", organisation, TAVE_TOKEN)
    datadog = make_config("monitoring", organisation, "datadog", secrets={"api_key": "k"})
    newrelic = make_config("monitoring", organisation, "newrelic", secrets={"license_key": "k"})
    make_config("monitoring", organisation, "prometheus", enabled=False)
    make_config("monitoring", organisation, "pushgateway", status=ConfigStatus.STOPPED)
    make_config("monitoring", make_organisation(slug="someone-else"), "datadog")

    assert tave_new_client(post).status_code == 200

    assert sorted(queued_syncs) == sorted([("monitoring", datadog.pk), ("monitoring", newrelic.pk)])
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.PROCESSED
    assert event.payload == {"targetId": "01h35ccwymj5ctckp8px1azhg6", "event": "contact.created"}


def test_a_burst_of_crm_events_queues_one_sync_per_config(post, organisation, webhook_config, make_config,
                                                            queued_syncs, eager_celery):  # fmt: skip
    webhook_config("tave", organisation, TAVE_TOKEN)
    make_config("monitoring", organisation, "datadog")
    for n in range(5):
        tave_new_client(post, target=f"01h35ccwymj5ctckp8px1azh{n:02d}")
    assert len(queued_syncs) == 1
    assert InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == 5


@pytest.mark.parametrize(
    "source, event_type, triggers",
    [
        ("generic", "crm.client.created", True),
        ("generic", "crm.booking.created", True),
        ("honeybook", "project.booked", True),
        ("honeybook", "client.created", True),
        ("generic", "invoice.paid", False),
    ],
)
def test_standard_webhooks_crm_events_trigger_syncs(source, event_type, triggers, post, organisation, webhook_config,
                                                    make_config, queued_syncs, eager_celery):  # fmt: skip
    webhook_config(source, organisation, WHSEC)
    config = make_config("monitoring", organisation, "datadog")
    body = vendors.as_json({"type": event_type, "timestamp": "2026-06-13T14:00:00Z", "data": {"id": "c_1"}})
    assert post(source, "acme", body, vendors.standard_headers(WHSEC, "msg_1", body)).status_code == 200
    assert queued_syncs == ([("monitoring", config.pk)] if triggers else [])


def test_crm_sync_families_come_from_the_kernel_registry(settings):
    settings.WEBHOOK_CRM_SYNC_FAMILIES = ("monitoring", "crm", "no-such-family")
    assert [family.name for family in crm.sync_families()] == ["monitoring"]  # crm is not registered yet

"""A CRM "new client" webhook triggers the organisation's AI metrics sync (product rule), through
the handler the monitoring family registers for webhooks.registry.NEW_CLIENT_EVENTS."""

from __future__ import annotations

import pytest

from tests.webhooks import vendors
from tests.webhooks.cases import TAVE_TOKEN, WHSEC
from webhooks.models import EventStatus, InboundEvent
from wedsync_integrations.integrations.models import ConfigStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _publish_as_events_arrive(settings):
    settings.WEBHOOK_DISPATCH = "immediate"


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


def test_a_burst_of_crm_events_queues_one_sync_per_config(
    post, organisation, webhook_config, make_config, queued_syncs, eager_celery
):
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
        ("honeybook", "inquiry.created", True),
        ("generic", "invoice.paid", False),
    ],
)
def test_standard_webhooks_crm_events_trigger_syncs(
    source, event_type, triggers, post, organisation, webhook_config, make_config, queued_syncs, eager_celery
):
    webhook_config(source, organisation, WHSEC)
    config = make_config("monitoring", organisation, "datadog")
    body = vendors.as_json({"type": event_type, "timestamp": "2026-06-13T14:00:00Z", "data": {"id": "c_1"}})
    assert post(source, "acme", body, vendors.standard_headers(WHSEC, "msg_1", body)).status_code == 200
    assert queued_syncs == ([("monitoring", config.pk)] if triggers else [])


def test_the_sync_is_published_only_once_the_event_is_handled(organisation, make_config, queued_syncs,
                                                               django_capture_on_commit_callbacks):  # fmt: skip
    """A sync published inside the handler's transaction could run before what prompted it is
    committed (and be lost with a rollback): it goes out on commit."""
    from monitoring.handlers import sync_metrics_for_new_client

    config = make_config("monitoring", organisation, "datadog")
    event = InboundEvent(source="tave", organisation=organisation, event_type="job.created", payload={})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert sync_metrics_for_new_client(event) == ["datadog"]
        assert queued_syncs == []
    assert len(callbacks) == 1 and queued_syncs == [("monitoring", config.pk)]

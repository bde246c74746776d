"""A signed request flows end to end: verified, stored, published, processed by a handler."""

import pytest

from webhooks import processing
from webhooks.models import EventStatus, InboundEvent

from .conftest import WHSEC
from .vendors import as_json, standard_headers

pytestmark = pytest.mark.django_db


def test_signed_generic_event_is_stored_published_and_processed(
    organisation, webhook_config, post, handled, no_dispatch
):
    webhook_config("generic", organisation, WHSEC)
    handled("generic", "crm.client.created")
    body = as_json({"type": "crm.client.created", "timestamp": "2026-06-13T14:00:00Z", "data": {"id": "c_1"}})

    signed = standard_headers(WHSEC, "msg_1", body)
    response = post("generic", "acme", body, signed)

    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert (event.source, event.organisation, event.event_type, event.external_id) == (
        "generic",
        organisation,
        "crm.client.created",
        "msg_1",
    )
    assert event.status == EventStatus.RECEIVED
    assert event.headers == {"webhook-id": "msg_1", "webhook-timestamp": signed["webhook-timestamp"]}  # no signature
    assert no_dispatch == [(event.pk, event.priority)]
    assert response["X-Inbound-Event-Ids"] == str(event.pk)

    assert processing.process(event.pk) == EventStatus.PROCESSED
    assert [e.pk for e in handled.seen] == [event.pk]


def test_through_celery_the_handler_runs_once_and_a_retry_of_the_delivery_is_only_acknowledged(
    organisation, webhook_config, post, handled, eager_celery
):
    webhook_config("generic", organisation, WHSEC)
    handled("generic", "crm.booking.created")
    body = as_json({"type": "crm.booking.created", "data": {"id": "b_9"}})

    first = post("generic", "acme", body, standard_headers(WHSEC, "msg_b9", body))
    again = post("generic", "acme", body, standard_headers(WHSEC, "msg_b9", body))  # vendor retry

    assert first.status_code == again.status_code == 200
    assert first.json() == {"status": "accepted", "received": 1, "duplicates": 0}
    assert again.json() == {"status": "accepted", "received": 1, "duplicates": 1}
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.PROCESSED and event.attempts == 1
    assert len(handled.seen) == 1

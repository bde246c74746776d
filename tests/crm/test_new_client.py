"""A CRM "new client" webhook queues the organisation's CRM syncs; a Tave job or booking is re-read
through the studio's API key and linked to a wedding (the hook's body is only a hint); an id
Tave does not know changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
import requests
import responses
from freezegun import freeze_time

from crm.models import JobLink
from tests.fixtures import load
from tests.webhooks import vendors
from tests.webhooks.cases import TAVE_TOKEN
from webhooks import registry
from webhooks.models import EventStatus, InboundEvent
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.tenants.models import Wedding

from .conftest import NOW, TAVE_API, TAVE_KEY, WHSEC

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")
JOB_ID = "01h35ccwymj5ctckp8px1azhg6"
ORDER_ID = "01fqcr215r79p3h19crqbpzwzh"


@pytest.fixture(autouse=True)
def _publish_as_events_arrive(settings):
    settings.WEBHOOK_DISPATCH = "immediate"


@pytest.fixture
def tave_hooks(webhook_config, organisation):
    return webhook_config("tave", organisation, TAVE_TOKEN)


def tave_event(post, event: str, target: str = JOB_ID):
    body = vendors.as_json(load("crm", "tave", "rest_hook_postback") | {"targetId": target})
    with freeze_time(NOW):
        return post("tave", "acme", body, {}, query=f"token={TAVE_TOKEN}&event={event}")


def job(event_date: str | None = "2026-09-12", **fields) -> dict:
    return {**load("crm", "tave", "job"), "eventDate": event_date, **fields}


def test_new_client_events_are_the_webhooks_apps_vocabulary_and_both_families_handle_them():
    for source, event_types in registry.NEW_CLIENT_EVENTS.items():
        for event_type in event_types:
            names = {f"{h.__module__}.{h.__name__}" for h in registry.handlers_for(source, event_type)}
            assert {"crm.handlers.sync_crms_for_new_client", "monitoring.handlers.sync_metrics_for_new_client"} <= names
    assert registry.handlers_for("tave", "payment.created") == []  # a payment is not a new client


def test_a_new_client_queues_a_sync_of_each_crm_the_organisation_uses(
    post, organisation, make_organisation, webhook_config, make_config, queued_syncs, eager_celery,
    tave_config, honeybook_config, lightblue_config,
):  # fmt: skip
    webhook_config("honeybook", organisation, WHSEC)
    tave, honeybook = tave_config(), honeybook_config()
    lightblue_config(enabled=False)
    other = make_organisation(slug="other")
    tave_config(organisation=other)
    body = vendors.as_json({"type": "client.created", "timestamp": "2026-07-06T09:00:00Z", "data": {"id": "c_1"}})
    assert post("honeybook", "acme", body, vendors.standard_headers(WHSEC, "msg_1", body)).status_code == 200
    assert sorted(queued_syncs) == sorted([("crm", tave.pk), ("crm", honeybook.pk)])
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED


def test_a_tave_job_is_re_read_and_linked_to_a_new_wedding(post, organisation, tave_hooks, tave_config, eager_celery):
    tave_config()
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/job/{JOB_ID}", json=job("2026-09-12"))
        assert tave_event(post, "job.created").status_code == 200  # the event runs the CRM sync in-process
        (call,) = api.calls
        assert call.request.headers["X-API-KEY"] == TAVE_KEY
    link = JobLink.objects.get()
    assert (link.job_id, link.event_date, link.stage, link.job_name) == (JOB_ID, date(2026, 9, 12), "booked",
                                                                         "Harper & Lee Wedding")  # fmt: skip
    assert link.manager_url == "https://workspace.vsco.co/app/job/01h35ccwymj5ctckp8px1azhg6"
    wedding = Wedding.objects.get()
    assert (link.wedding, wedding.organisation, wedding.date) == (wedding, organisation, date(2026, 9, 12))
    item = FAMILY.retry_model.objects.get(operation="link_job")
    assert item.state == RetryState.SUCCEEDED and item.result["created_wedding"] is True
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED


def test_an_unknown_job_id_changes_nothing(post, organisation, tave_hooks, tave_config, eager_celery):
    tave_config()
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/job/{JOB_ID}", status=404, json=load("crm", "tave", "not_found"))
        tave_event(post, "job.created")
    assert not Wedding.objects.exists() and not JobLink.objects.exists()
    item = FAMILY.retry_model.objects.get(operation="link_job")
    assert item.state == RetryState.SUCCEEDED  # nothing to retry: Tave does not know it
    assert item.result == {"linked": False, "target_id": JOB_ID, "reason": f"Tave knows no job {JOB_ID}"}
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED


def test_a_booking_links_the_orders_job_and_adopts_the_wedding_already_there(
    post, organisation, tave_hooks, tave_config, make_wedding, eager_celery
):
    tave_config()
    platform_wedding = make_wedding(organisation, date(2026, 9, 12))  # the AI platform knew it already
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/order/{ORDER_ID}", json=load("crm", "tave", "order"))
        api.get(f"{TAVE_API}/job/{JOB_ID}", json=job("2026-09-12"))
        tave_event(post, "order.booked", target=ORDER_ID)
        assert [call.request.url for call in api.calls] == [f"{TAVE_API}/order/{ORDER_ID}", f"{TAVE_API}/job/{JOB_ID}"]
    assert JobLink.objects.get().wedding == platform_wedding
    assert Wedding.objects.count() == 1


def test_a_job_without_a_date_is_linked_when_an_event_names_it_again(
    post, organisation, tave_hooks, tave_config, eager_celery
):
    tave_config()
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/job/{JOB_ID}", json=job(None))  # a lead with no date yet
        tave_event(post, "job.created")
        assert JobLink.objects.get().wedding is None and not Wedding.objects.exists()
        # booked moments later (a burst: the sync is coalesced, the queued read still goes out)
        api.get(f"{TAVE_API}/order/{ORDER_ID}", json=load("crm", "tave", "order"))
        api.replace(responses.GET, f"{TAVE_API}/job/{JOB_ID}", json=job("2026-09-12"))
        tave_event(post, "order.booked", target=ORDER_ID)
    assert JobLink.objects.get().wedding.date == date(2026, 9, 12)
    assert Wedding.objects.count() == 1


def test_a_moved_wedding_date_follows_the_job(organisation, tave_config):
    from crm import weddings

    weddings.link_job(organisation, "tave", job("2026-09-12"))
    outcome = weddings.link_job(organisation, "tave", job("2026-09-19"))
    assert not outcome.created_wedding
    assert list(Wedding.objects.values_list("date", flat=True)) == [date(2026, 9, 19)]


def test_a_new_contact_only_syncs(post, organisation, tave_hooks, tave_config, queued_syncs, eager_celery):
    tave = tave_config()
    with responses.RequestsMock():  # no call to Tave: a contact is not a job
        tave_event(post, "contact.created")
    assert not FAMILY.retry_model.objects.filter(operation="link_job").exists()
    assert queued_syncs == [("crm", tave.pk)]


def test_without_a_tave_crm_configuration_the_event_is_still_handled(post, organisation, tave_hooks, eager_celery):
    with responses.RequestsMock():
        tave_event(post, "job.created")
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED
    assert not FAMILY.retry_model.objects.exists()


def test_tave_down_keeps_the_job_read_for_a_retry(post, organisation, tave_hooks, tave_config, eager_celery):
    tave_config()
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/job/{JOB_ID}", body=requests.ConnectionError("connection refused"))
        tave_event(post, "job.created")
    item = FAMILY.retry_model.objects.get(operation="link_job")
    assert item.state == RetryState.PENDING and item.attempts == 1
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED  # the durable read is queued


def test_a_refused_key_stops_the_tave_configuration_and_keeps_the_read(
    post, organisation, tave_hooks, tave_config, eager_celery
):
    tave = tave_config()
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/job/{JOB_ID}", status=401, json={"type": "unknown", "title": "Unauthorized"})
        tave_event(post, "job.created")
    tave.refresh_from_db()
    assert tave.status == ConfigStatus.STOPPED
    assert FAMILY.retry_model.objects.get(operation="link_job").state == RetryState.PENDING

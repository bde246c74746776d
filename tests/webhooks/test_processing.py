"""Processing: retries with backoff, failure for staff, handlers not re-run, crash recovery by the
sweeper, a broker outage that loses nothing, staff reprocess, wedding-day urgency and queues."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from webhooks import inbox, processing, publishing, registry, tasks
from webhooks.models import EventStatus, InboundEvent, Priority
from webhooks.providers.base import ParsedEvent

from . import vendors
from .conftest import WHSEC

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(organisation, no_dispatch):
    def make(event_type="crm.client.created", external_id="msg_1", source="generic", now=None):
        [(pk, _)] = inbox.store(source, organisation, [ParsedEvent(event_type, external_id, {"data": {}})], now=now)
        return InboundEvent.objects.get(pk=pk)

    return make


def test_attempts_back_off_then_the_event_fails_for_staff_and_is_kept(store, handled, monkeypatch):
    handled("generic", "crm.client.created", fail_times=99)
    scheduled = []
    monkeypatch.setattr(processing, "_schedule_retry", lambda event, delay: scheduled.append(round(delay)))
    event = store()
    now = timezone.now()
    for _ in range(event.max_attempts):
        status = processing.process(event.pk, now=now)
        event.refresh_from_db()
        now = event.next_attempt_at
    assert status == EventStatus.FAILED
    assert event.status == EventStatus.FAILED and event.attempts == 8
    assert "handler crashed" in event.last_error
    assert len(scheduled) == 7
    # exponential: each nominal delay doubles (15, 30, 60 … s, jitter within half of it), capped at 30 min
    for attempt, delay in enumerate(scheduled, start=1):
        nominal = min(1800, 15 * 2 ** (attempt - 1))
        assert nominal / 2 - 1 <= delay <= nominal + 1
    assert processing.process(event.pk, now=now + timedelta(days=1)) is None  # failed stays failed


def test_an_event_is_not_run_before_its_backoff_is_over(store, handled, monkeypatch):
    monkeypatch.setattr(processing, "_schedule_retry", lambda event, delay: None)
    handled("generic", "crm.client.created", fail_times=1)
    event = store()
    processing.process(event.pk)
    event.refresh_from_db()
    assert processing.process(event.pk, now=event.next_attempt_at - timedelta(seconds=1)) is None
    assert processing.process(event.pk, now=event.next_attempt_at) == EventStatus.PROCESSED


def test_a_handler_that_succeeded_is_not_run_again_when_a_later_one_fails(store, monkeypatch):
    monkeypatch.setattr(processing, "_schedule_retry", lambda event, delay: None)
    saved = registry.registered()
    calls = []
    outcomes = [RuntimeError("PagerDuty API down"), None]

    @registry.handles("generic", "crm.client.created")
    def first(event):
        calls.append("first")

    @registry.handles("generic", "crm.client.created")
    def second(event):
        calls.append("second")
        outcome = outcomes.pop(0)
        if outcome:
            raise outcome

    try:
        event = store()
        assert processing.process(event.pk) == EventStatus.RETRYING
        event.refresh_from_db()
        assert processing.process(event.pk, now=event.next_attempt_at) == EventStatus.PROCESSED
    finally:
        registry._handlers.clear()
        registry._handlers.update(saved)
    assert [c for c in calls if c == "first"] == ["first"]  # a second run would have repeated its side effects
    assert calls.count("second") == 2


def test_a_failing_handler_rolls_back_its_own_writes(store, organisation):
    saved = registry.registered()

    @registry.handles("generic", "crm.client.created")
    def half_done(event):
        InboundEvent.objects.filter(pk=event.pk).update(event_type="half-written")
        raise RuntimeError("crashed after writing")

    try:
        event = store()
        processing.process(event.pk)
    finally:
        registry._handlers.clear()
        registry._handlers.update(saved)
    event.refresh_from_db()
    assert event.event_type == "crm.client.created"


def test_an_event_nobody_handles_is_kept_as_unhandled(store):
    event = store(event_type="nobody.listens")
    assert processing.process(event.pk) == EventStatus.UNHANDLED
    event.refresh_from_db()
    assert event.status == EventStatus.UNHANDLED and event.processed_at is not None


def test_two_workers_cannot_process_the_same_event_at_once(store, handled):
    handled("generic", "crm.client.created")
    event = store()
    now = timezone.now()
    assert processing.claim(event.pk, now)
    assert processing.process(event.pk, now=now) is None  # the lease is held by the first worker
    assert handled.seen == []


def test_a_worker_that_dies_mid_event_is_recovered_by_the_sweeper(store, handled, no_dispatch):
    handled("generic", "crm.client.created")
    event = store()
    no_dispatch.clear()
    started = timezone.now()
    assert processing.claim(event.pk, started)  # the worker took it ... and died (no finish)
    assert processing.release_expired_leases(started + timedelta(minutes=1)) == 0  # lease still running
    assert processing.due_event_ids(started + timedelta(minutes=1)) == []
    later = started + processing.LEASE + timedelta(seconds=1)
    assert processing.release_expired_leases(later) == 1
    assert processing.due_event_ids(later) == [(event.pk, event.priority)]
    assert processing.process(event.pk, now=later) == EventStatus.PROCESSED
    event.refresh_from_db()
    assert event.attempts == 2 and len(handled.seen) == 1


def test_the_sweeper_republishes_received_events_nobody_picked_up_once(store, no_dispatch, settings):
    settings.WEBHOOK_DISPATCH = "immediate"
    old = store(external_id="msg_old", now=timezone.now() - timedelta(minutes=5))
    store(external_id="msg_new")  # its task was published a moment ago
    no_dispatch.clear()
    assert tasks.sweep() == 1
    assert no_dispatch == [(old.pk, old.priority)]
    assert tasks.sweep() == 0  # not again while the republished task waits in the queue


def test_in_sweeper_mode_the_sweeper_publishes_each_new_event_once(store, no_dispatch, settings):
    settings.WEBHOOK_DISPATCH = "sweeper"
    event = store()
    assert no_dispatch == []  # nothing published by the request
    assert tasks.sweep() == 1 and tasks.sweep() == 0
    assert no_dispatch == [(event.pk, event.priority)]


def test_wedding_day_events_are_swept_first(store, no_dispatch, settings):
    settings.WEBHOOK_DISPATCH = "sweeper"
    normal = store(external_id="msg_a")
    urgent = store(external_id="msg_b")
    InboundEvent.objects.filter(pk=urgent.pk).update(priority=Priority.WEDDING_DAY)
    no_dispatch.clear()
    tasks.sweep()
    assert [pk for pk, _ in no_dispatch] == [urgent.pk, normal.pk]


def test_a_broker_outage_does_not_lose_the_event(
    post, organisation, webhook_config, monkeypatch, handled, eager_celery
):
    webhook_config("generic", organisation, WHSEC)
    handled("generic", "crm.client.created")

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.process_event, "apply_async", broker_down)
    body = vendors.as_json({"type": "crm.client.created", "data": {}})
    response = post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_outage", body))
    assert response.status_code == 200  # the vendor is told we have it: we do, it is stored
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.RECEIVED
    monkeypatch.undo()
    # the broker is back: the sweeper's next run publishes it (the drill found it waited the
    # minute allowed for a task on its way, though the failed publish said none was)
    assert tasks.sweep() == 1
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED and len(handled.seen) == 1


def test_staff_reprocess_runs_a_failed_event_again_with_fresh_attempts(store, handled, monkeypatch):
    monkeypatch.setattr(processing, "_schedule_retry", lambda event, delay: None)
    handled("generic", "crm.client.created")
    event = store()
    InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, attempts=8, last_error="boom")
    event.refresh_from_db()
    assert processing.reprocess([event]) == {EventStatus.PROCESSED: 1}
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED and event.attempts == 9 and event.last_error == ""
    assert len(handled.seen) == 1
    # a processed event can be reprocessed too (handlers are idempotent by contract)
    assert processing.reprocess([event]) == {EventStatus.PROCESSED: 1}
    assert len(handled.seen) == 2


def test_staff_reprocess_leaves_an_event_a_worker_is_running_to_that_worker(store, handled):
    handled("generic", "crm.client.created")
    event = store()
    started = timezone.now()
    assert processing.claim(event.pk, started)  # a worker is running its handlers right now
    assert processing.reprocess([event], now=started + timedelta(seconds=5)) == {processing.IN_PROGRESS: 1}
    assert handled.seen == []  # a second, overlapping run would repeat the handlers' side effects
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.PROCESSING, 1)
    # once the lease has run out (the worker died), reprocess takes it over
    later = started + processing.LEASE + timedelta(seconds=1)
    assert processing.reprocess([event], now=later) == {EventStatus.PROCESSED: 1}
    assert len(handled.seen) == 1


def test_wedding_day_events_retry_on_the_urgent_schedule(store, handled, monkeypatch):
    delays = []
    monkeypatch.setattr(processing, "_schedule_retry", lambda event, delay: delays.append(delay))
    handled("generic", "crm.client.created", fail_times=1)
    event = store()
    InboundEvent.objects.filter(pk=event.pk).update(priority=Priority.WEDDING_DAY)
    processing.process(event.pk)
    assert 2.5 <= delays[0] <= 5  # URGENT: 5 s base, against 15 s normally
    assert processing.policy_for(InboundEvent.objects.get(pk=event.pk)).max_attempts == 12


@pytest.mark.parametrize(
    "source, immediate",
    [("slack", True), ("pagerduty", True), ("twilio", True), ("datadog", True), ("newrelic", True),
     ("tave", False), ("honeybook", False), ("generic", False), ("quickbooks", False), ("xero", False),
     ("freshbooks", False)],
)  # fmt: skip
def test_alert_sources_publish_at_once_and_crm_accounting_sources_via_the_sweeper(
    source, immediate, organisation, no_dispatch, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISPATCH = ""  # each source's own default
    with django_capture_on_commit_callbacks(execute=True):
        [(pk, _)] = inbox.store(source, organisation, [ParsedEvent("some.event", "id-1", {})])
    assert no_dispatch == ([(pk, Priority.NORMAL)] if immediate else [])
    assert tasks.sweep() == (0 if immediate else 1)  # the sweeper picks up the deferred one
    assert tasks.sweep() == 0


def test_queue_routing_sends_wedding_day_events_to_the_priority_queue(settings):
    settings.WEBHOOK_TASK_QUEUE, settings.WEBHOOK_PRIORITY_QUEUE = "", ""
    assert publishing.queue_for(Priority.WEDDING_DAY) is None and publishing.queue_for(Priority.NORMAL) is None
    settings.WEBHOOK_TASK_QUEUE, settings.WEBHOOK_PRIORITY_QUEUE = "webhooks", "webhooks-priority"
    assert publishing.queue_for(Priority.WEDDING_DAY) == "webhooks-priority"
    assert publishing.queue_for(Priority.NORMAL) == "webhooks"


def test_publish_names_the_task_and_queue(monkeypatch, settings):
    settings.WEBHOOK_PRIORITY_QUEUE = "webhooks-priority"
    sent = []
    monkeypatch.setattr(tasks.process_event, "apply_async", lambda args, kwargs, **kw: sent.append((args, kw["queue"])))
    assert publishing.publish(41, Priority.WEDDING_DAY) is True
    assert sent == [((41,), "webhooks-priority")]
    # the name the publisher sends is the task the worker runs
    assert tasks.process_event.name == publishing.PROCESS_TASK and tasks.process_event.acks_late


def test_purge_keeps_failed_events_and_recent_history(store, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    long_ago = timezone.now() - timedelta(days=45)
    done = store(external_id="msg_done", now=long_ago)
    failed = store(external_id="msg_failed", now=long_ago)
    recent = store(external_id="msg_recent")
    InboundEvent.objects.filter(pk__in=[done.pk, recent.pk]).update(status=EventStatus.PROCESSED)
    InboundEvent.objects.filter(pk=failed.pk).update(status=EventStatus.FAILED)
    assert tasks.purge()["events"] == 1
    assert set(InboundEvent.objects.values_list("pk", flat=True)) == {failed.pk, recent.pk}

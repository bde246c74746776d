"""Outbox leases: a worker that dies mid-send loses nothing, and a live lease is never stolen."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from wedsync_integrations.integrations import leases, outbox
from wedsync_integrations.integrations.models import RetryState

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Stands in for the process dying mid-send (SIGKILL, OOM): no except-Exception runs."""


def _lease(item, until):
    type(item).objects.filter(pk=item.pk).update(leased_until=until)


def _pair_key(family, config) -> str:
    return f"wsi:drain:{family.name}:{config.organisation_id}:{config.provider}"


def test_while_another_worker_drains_the_pair_a_drain_is_skipped_and_sends_nothing(family, config, fake_provider):
    first = outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.enqueue(config, operation="send", payload={"n": 2})
    _lease(first, timezone.now() + timedelta(seconds=60))  # that worker is sending it right now
    other_worker = leases.take(_pair_key(family, config), seconds=30)

    try:
        counts = outbox.drain_pair(family, config.organisation_id, "fake")
    finally:
        other_worker.release()

    assert counts["skipped"] == 1 and counts["succeeded"] == 0
    assert fake_provider.delivered == []  # neither the leased one nor, out of order, the next


def test_an_item_left_leased_by_a_drain_that_died_is_sent_again_by_the_next_drain_at_once(
    family, config, fake_provider, caplog
):
    """Issue 14, item 7: the item's own lease (two minutes) no longer holds back the successor:
    holding the pair's lease proves its drain is dead."""
    first = outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.enqueue(config, operation="send", payload={"n": 2})
    _lease(first, timezone.now() + timedelta(seconds=110))  # a drain died sending it

    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 2
    assert fake_provider.delivered == [("send", {"n": 1}), ("send", {"n": 2})]
    assert "outbox.lease_reclaimed provider=fake" in caplog.text


def test_an_expired_lease_is_taken_over_and_delivered(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    _lease(item, timezone.now() - timedelta(seconds=1))

    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 1
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and item.leased_until is None


def test_a_worker_dying_mid_send_loses_nothing_and_its_pair_is_taken_over_within_the_lease(
    family, config, fake_provider, monkeypatch, settings
):
    """Issue 14, item 7: the drain lock outlived its holder by five minutes. A killed worker
    neither records its send nor releases anything; its lease lapses within
    OUTBOX_DRAIN_LEASE_SECONDS because nobody renews it, and the next drain sends the item again."""
    settings.OUTBOX_DRAIN_LEASE_SECONDS = 2.0
    real_deliver = fake_provider.deliver
    abandoned = []

    def dies_after_sending(self, operation, payload):
        real_deliver(self, operation, payload)
        raise WorkerKilled  # sent, but the bookkeeping never happens

    def killed_holder_releases_nothing(lease):
        lease._stop.set()  # the process is gone: no more renewals...
        abandoned.append(lease)  # ...and no release

    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    monkeypatch.setattr(fake_provider, "deliver", dies_after_sending)
    monkeypatch.setattr(leases.Lease, "release", killed_holder_releases_nothing)
    with pytest.raises(WorkerKilled):
        outbox.drain_pair(family, config.organisation_id, "fake")
    monkeypatch.undo()
    item.refresh_from_db()
    assert item.state == RetryState.PENDING and item.leased_until is not None

    assert outbox.drain_pair(family, config.organisation_id, "fake")["skipped"] == 1  # its lease has not lapsed
    time.sleep(2.3)  # one lease, unrenewed
    assert outbox.drain_pair(family, config.organisation_id, "fake")["succeeded"] == 1
    assert fake_provider.delivered == [("send", {"n": 1}), ("send", {"n": 1})]  # at-least-once
    assert abandoned and not abandoned[0].held()


def test_a_drain_longer_than_its_lease_keeps_it_by_renewing(family, config, fake_provider, monkeypatch, settings):
    settings.OUTBOX_DRAIN_LEASE_SECONDS = 1.5  # renewed every 0.5 s: a busy machine may delay a renewal 1 s
    outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.enqueue(config, operation="send", payload={"n": 2})
    nested = []
    real_deliver = fake_provider.deliver

    def slow_deliver(self, operation, payload):
        time.sleep(1.0)  # two sends: past one lease
        nested.append(outbox.drain_pair(family, config.organisation_id, "fake")["skipped"])
        return real_deliver(self, operation, payload)

    monkeypatch.setattr(fake_provider, "deliver", slow_deliver)
    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 2
    assert nested == [1, 1]  # still held after 1 s and after 2 s
    assert len(fake_provider.delivered) == 2


def test_a_drain_that_loses_its_lease_stops_before_the_next_item(family, config, fake_provider, monkeypatch):
    outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.enqueue(config, operation="send", payload={"n": 2})
    real_deliver = fake_provider.deliver

    def deliver_then_lose_the_lease(self, operation, payload):
        cache.delete(_pair_key(family, config))  # it lapsed while the process was frozen
        time.sleep(0.5)  # the renewer, waking every 10 ms here, finds it gone
        return real_deliver(self, operation, payload)

    monkeypatch.setattr(fake_provider, "deliver", deliver_then_lose_the_lease)
    monkeypatch.setattr(leases, "RENEWALS_PER_LEASE", 1000)  # renew at once: the loss is seen

    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 1
    assert fake_provider.delivered == [("send", {"n": 1})]


def test_only_pending_items_are_claimed(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert outbox.deliver_item(family, item).state == "skipped"
    assert len(fake_provider.delivered) == 1


def test_replay_does_not_steal_a_live_lease(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    _lease(item, timezone.now() + timedelta(seconds=60))  # a worker is sending it right now
    other_worker = leases.take(_pair_key(family, config), seconds=30)

    try:
        totals = outbox.replay([item])
    finally:
        other_worker.release()

    assert totals["succeeded"] == 0 and fake_provider.delivered == []
    item.refresh_from_db()
    assert item.leased_until is not None


def test_replay_never_resends_an_item_delivered_since_the_page_was_loaded(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    stale = type(item).objects.get(pk=item.pk)  # what the admin changelist loaded: pending
    outbox.drain_pair(family, config.organisation_id, "fake")  # a worker delivers it meanwhile

    outbox.replay([stale])

    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED
    assert len(fake_provider.delivered) == 1


def test_two_drains_of_one_pair_never_run_at_once(family, config, fake_provider, monkeypatch):
    outbox.enqueue(config, operation="send", payload={"n": 1})
    nested = []
    real_deliver = fake_provider.deliver

    def deliver_while_another_drain_starts(self, operation, payload):
        nested.append(outbox.drain_pair(family, config.organisation_id, "fake"))
        return real_deliver(self, operation, payload)

    monkeypatch.setattr(fake_provider, "deliver", deliver_while_another_drain_starts)
    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 1
    assert nested == [{"succeeded": 0, "pending": 0, "dead": 0, "skipped": 1}]
    assert len(fake_provider.delivered) == 1

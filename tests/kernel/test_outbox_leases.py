"""Outbox leases: a worker that dies mid-send loses nothing, and a live lease is never stolen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Stands in for the process dying mid-send (SIGKILL, OOM): no except-Exception runs."""


def _lease(item, until):
    type(item).objects.filter(pk=item.pk).update(leased_until=until)


def test_an_item_leased_by_another_worker_is_skipped_and_holds_back_the_rest(family, config, fake_provider):
    first = outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.enqueue(config, operation="send", payload={"n": 2})
    _lease(first, timezone.now() + timedelta(seconds=60))

    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["skipped"] == 1 and counts["succeeded"] == 0
    assert fake_provider.delivered == []  # neither the leased one nor, out of order, the next


def test_an_expired_lease_is_taken_over_and_delivered(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    _lease(item, timezone.now() - timedelta(seconds=1))

    counts = outbox.drain_pair(family, config.organisation_id, "fake")

    assert counts["succeeded"] == 1
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and item.leased_until is None


def test_a_worker_dying_mid_send_loses_nothing(family, config, fake_provider, monkeypatch):
    real_deliver = fake_provider.deliver

    def dies_after_sending(self, operation, payload):
        real_deliver(self, operation, payload)
        raise WorkerKilled  # sent, but the bookkeeping never happens

    with freeze_time("2026-06-13 14:00:00"):
        item = outbox.enqueue(config, operation="send", payload={"n": 1})
        monkeypatch.setattr(fake_provider, "deliver", dies_after_sending)
        with pytest.raises(WorkerKilled):
            outbox.drain_pair(family, config.organisation_id, "fake")
        monkeypatch.setattr(fake_provider, "deliver", real_deliver)
    item.refresh_from_db()
    assert item.state == RetryState.PENDING and item.leased_until is not None

    with freeze_time("2026-06-13 14:01:00"):  # the dead worker's lease still holds
        assert outbox.drain_pair(family, config.organisation_id, "fake")["skipped"] == 1
    with freeze_time("2026-06-13 14:02:01"):  # lease expired: another worker sends it again
        assert outbox.drain_pair(family, config.organisation_id, "fake")["succeeded"] == 1
    assert fake_provider.delivered == [("send", {"n": 1}), ("send", {"n": 1})]  # at-least-once


def test_only_pending_items_are_claimed(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert outbox.deliver_item(family, item).state == "skipped"
    assert len(fake_provider.delivered) == 1


def test_replay_does_not_steal_a_live_lease(family, config, fake_provider):
    item = outbox.enqueue(config, operation="send", payload={"n": 1})
    _lease(item, timezone.now() + timedelta(seconds=60))  # a worker is sending it right now

    totals = outbox.replay([item])

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

"""The outbox: ordered delivery, backoff, Retry-After, dead items, stopped configs, replay."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.models import ConfigStatus, RetryState, SyncOutcome

pytestmark = pytest.mark.django_db


def _enqueue(config, n):
    return [outbox.enqueue(config, operation="send", payload={"n": i}) for i in range(n)]


def test_items_are_delivered_oldest_first_and_logged(family, config, fake_provider):
    _enqueue(config, 3)
    counts = outbox.drain_pair(family, config.organisation_id, "fake")
    assert counts["succeeded"] == 3
    assert [payload["n"] for _, payload in fake_provider.delivered] == [0, 1, 2]
    assert family.sync_log_model.objects.filter(outcome=SyncOutcome.SUCCESS).count() == 3
    config.refresh_from_db()
    assert config.last_success_at is not None


def test_a_retryable_failure_holds_back_later_items_and_honours_retry_after(family, config, fake_provider):
    fake_provider.script = [RetryableError("vendor said 429", status=429, retry_after=900)]
    with freeze_time("2026-06-13 12:00:00"):
        _enqueue(config, 3)
        counts = outbox.drain_pair(family, config.organisation_id, "fake")
        now = timezone.now()
    assert counts == {"succeeded": 0, "pending": 1, "dead": 0, "skipped": 0}
    first = family.retry_model.objects.order_by("id").first()
    assert first.attempts == 1 and first.state == RetryState.PENDING
    assert first.next_attempt_at >= now + timedelta(seconds=900)  # Retry-After is a floor
    assert len(fake_provider.delivered) == 1  # the two later items were not tried out of order
    config.refresh_from_db()
    assert config.status == ConfigStatus.FAILING
    with freeze_time("2026-06-13 12:10:00"):  # still inside the vendor's window: nothing is sent
        assert outbox.drain_pair(family, config.organisation_id, "fake")["succeeded"] == 0
    assert len(fake_provider.delivered) == 1
    with freeze_time("2026-06-13 12:16:00"):  # after it, the whole queue drains in order
        counts = outbox.drain_pair(family, config.organisation_id, "fake")
    assert counts["succeeded"] == 3
    assert [p["n"] for _, p in fake_provider.delivered] == [0, 0, 1, 2]
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE


def test_attempts_exhausted_makes_the_item_dead(family, config, fake_provider):
    (item,) = _enqueue(config, 1)
    type(item).objects.filter(pk=item.pk).update(max_attempts=2)
    fake_provider.script = [RetryableError("boom"), RetryableError("boom again")]
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    type(item).objects.filter(pk=item.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert item.state == RetryState.DEAD
    assert "gave up after 2 attempts" in item.last_error


def test_a_bad_payload_is_dead_and_does_not_block_the_queue(family, config, fake_provider):
    _enqueue(config, 2)
    fake_provider.script = [PermanentError("HTTP 400: bad metric", status=400)]
    counts = outbox.drain_pair(family, config.organisation_id, "fake")
    assert counts["dead"] == 1 and counts["succeeded"] == 1


def test_bad_credentials_stop_the_config_and_keep_the_item(family, config, fake_provider):
    (item,) = _enqueue(config, 1)
    fake_provider.script = [PermanentError("HTTP 403 invalid key", status=403, stops_config=True)]
    outbox.drain_pair(family, config.organisation_id, "fake")
    config.refresh_from_db()
    item.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED and "403" in config.status_reason
    assert item.state == RetryState.PENDING
    # while stopped, nothing is attempted
    outbox.drain_pair(family, config.organisation_id, "fake")
    assert len(fake_provider.delivered) == 1
    # staff fix the key and resume: the held item goes out
    outbox.resume_config(config)
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED


def test_replay_revives_a_dead_item(family, config, fake_provider):
    (item,) = _enqueue(config, 1)
    fake_provider.script = [PermanentError("HTTP 400", status=400)]
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert item.state == RetryState.DEAD
    totals = outbox.replay([item])
    item.refresh_from_db()
    assert totals["succeeded"] == 1 and item.state == RetryState.SUCCEEDED


def test_dedupe_key_makes_enqueue_idempotent(config):
    first = outbox.enqueue(config, operation="send", payload={"a": 1}, dedupe_key="k1")
    second = outbox.enqueue(config, operation="send", payload={"a": 1}, dedupe_key="k1")
    assert first.pk == second.pk


def test_a_crashing_provider_keeps_the_item_for_retry(family, config, fake_provider):
    (item,) = _enqueue(config, 1)
    fake_provider.script = [KeyError("bug")]
    outbox.drain_pair(family, config.organisation_id, "fake")
    item.refresh_from_db()
    assert item.state == RetryState.PENDING and "internal error KeyError" in item.last_error

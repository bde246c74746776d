"""The durable outbox: enqueue a payload, deliver it in order, retry it, replay it.

    item = outbox.enqueue(config, operation="series", payload=body, dedupe_key="dd:acme:2026-06-13T14")
    outbox.drain_pair(family, organisation_id, provider)   # delivers due items oldest-first

Guarantees
- The row exists (committed) before any send; a crash between send and bookkeeping leaves a
  lease that expires, and the item is sent again (at-least-once; providers use the vendor's
  idempotency key where one exists).
- Items of one (organisation, provider) go out in id order: a failing item holds back the
  ones queued after it, so a vendor outage queues work and its return drains it in order.
- One drain per (organisation, provider) at a time, under a short lease its holder renews
  (leases.py): a worker killed mid-drain stops renewing, and within OUTBOX_DRAIN_LEASE_SECONDS
  the next drain takes over, sending again the item that was in flight.
- RetryableError -> backoff (vendor Retry-After honoured) until max attempts -> dead.
- PermanentError -> dead. With stops_config (bad key) the config is stopped instead and the
  item stays pending: once staff fix the key and resume, nothing has been lost.
- A partial delivery (a payload split after a 413, one part failing) splits the item: the part
  that went out becomes a succeeded row of its own, the item keeps only the rest. The rows of a
  payload therefore always add up to what was delivered plus what is still owed, which is what
  a late correction for a count metric has to subtract (monitoring/exporter.py).
- Every attempt writes a SyncLog row.
- A provider is told when the payload may already be at the vendor (`provider.resending`: an
  earlier attempt failed, or its worker died mid-send), so a vendor without idempotency keys can
  look for it before sending again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from wedsync_integrations.core.observability import correlation_scope

from . import leases, signals
from .errors import IntegrationError, PermanentError, RetryableError
from .models import ConfigStatus, RetryState, SyncOutcome
from .registry import DeliveryResult, Family, get_family
from .secrets import redact

logger = logging.getLogger("wedsync.outbox")

LEASE_SECONDS = 120


@dataclass
class AttemptOutcome:
    state: str  # RetryState value, or "skipped"
    error: str = ""


def enqueue(config, *, operation: str, payload: dict, dedupe_key: str | None = None, max_attempts: int | None = None):
    """Write an outbox item for `config` (idempotent on dedupe_key). Returns the item."""
    family = config.family()
    policy = config.provider_class().retry_policy
    model = family.retry_model
    fields = {
        "organisation_id": config.organisation_id,
        "provider": config.provider,
        "operation": operation,
        "payload": payload,
        "max_attempts": max_attempts or policy.max_attempts,
    }
    if dedupe_key is None:
        return model.objects.create(**fields)
    try:
        with transaction.atomic():
            return model.objects.create(dedupe_key=dedupe_key, **fields)
    except IntegrityError:
        return model.objects.get(dedupe_key=dedupe_key)


def _claim(model, pk, now) -> bool:
    """Take a lease on a pending item; False if someone else holds it."""
    return bool(
        model.objects.filter(pk=pk, state=RetryState.PENDING)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=now + timedelta(seconds=LEASE_SECONDS))
    )


def _find_config(family: Family, item):
    return (
        family.config_model.objects.select_related("organisation")
        .filter(organisation_id=item.organisation_id, provider=item.provider)
        .first()
    )


def deliver_item(family: Family, item, *, now=None) -> AttemptOutcome:
    """Attempt one item now (it must be pending). Records the attempt and its outcome."""
    now = now or timezone.now()
    model = family.retry_model
    # A lease left behind means a worker took the item and died before recording how it went:
    # perhaps after the vendor had the request.
    lease_left_behind = item.leased_until is not None
    if not _claim(model, item.pk, now):
        return AttemptOutcome("skipped", "leased by another worker or no longer pending")
    item.refresh_from_db()
    config = _find_config(family, item)
    if config is None:
        _finish(item, RetryState.DEAD, "configuration was deleted", now)
        return AttemptOutcome(RetryState.DEAD, "configuration was deleted")
    if not config.is_usable:
        model.objects.filter(pk=item.pk).update(leased_until=None)
        return AttemptOutcome("skipped", f"configuration is {'disabled' if not config.enabled else 'stopped'}")

    provider = config.get_provider()
    provider.resending = lease_left_behind or item.attempts > 0
    hidden = provider.secrets.values_to_hide()
    started = time.monotonic()
    log = family.sync_log_model(
        organisation_id=item.organisation_id, provider=item.provider, operation=item.operation, started_at=now
    )
    with correlation_scope(item.correlation_id):
        try:
            result = provider.deliver(item.operation, item.payload) or DeliveryResult()
        except RetryableError as exc:
            return _retry_later(family, item, config, log, exc, redact(exc.message, hidden), now, started)
        except PermanentError as exc:
            return _give_up(family, item, config, log, exc, redact(exc.message, hidden), now, started)
        except Exception as exc:  # a bug in a provider must not lose the item: retry, and say so
            logger.exception("outbox.provider_crash provider=%s item=%s", item.provider, item.pk)
            error = IntegrationError(f"{item.provider}: internal error {type(exc).__name__}")
            return _retry_later(family, item, config, log, error, error.message, now, started)

    log.outcome, log.items, log.http_status = SyncOutcome.SUCCESS, result.items, result.http_status
    log.detail = result.detail
    _save_log(log, started)
    item.result = result.detail
    _finish(item, RetryState.SUCCEEDED, "", now)
    config.mark_success(now)
    return AttemptOutcome(RetryState.SUCCEEDED)


def _retry_later(family, item, config, log, exc, message, now, started) -> AttemptOutcome:
    attempts = item.attempts + 1
    policy = config.provider_class().retry_policy
    retry_after = getattr(exc, "retry_after", None)
    dead = attempts >= item.max_attempts
    log.outcome = SyncOutcome.FAILED if dead else SyncOutcome.RETRYING
    log.http_status, log.error = exc.status, message
    _save_log(log, started)
    fields = {"attempts": attempts, "last_error": message, "last_attempt_at": now, "leased_until": None}
    if dead:
        fields.update(state=RetryState.DEAD)
        message = f"gave up after {attempts} attempts: {message}"
        fields["last_error"] = message
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=policy.delay(attempts, retry_after))
    _save_failed_attempt(item, fields, exc, now)
    config.mark_failure(message, now)
    item.refresh_from_db()
    if dead:
        signals.delivery_dead.send_robust(sender=family, item=item, error=message)
    else:
        signals.delivery_failed.send_robust(sender=family, item=item, error=message, attempts=attempts)
    logger.warning(
        "outbox.retry provider=%s item=%s attempts=%s dead=%s error=%s", item.provider, item.pk, attempts, dead, message
    )
    return AttemptOutcome(RetryState.DEAD if dead else RetryState.PENDING, message)


def _give_up(family, item, config, log, exc: PermanentError, message, now, started) -> AttemptOutcome:
    log.outcome, log.http_status, log.error = SyncOutcome.FAILED, exc.status, message
    _save_log(log, started)
    attempts = item.attempts + 1
    if exc.stops_config:
        # The item is fine; the credentials are not. Keep it pending and stop the config.
        fields = {"attempts": attempts, "last_error": message, "last_attempt_at": now, "leased_until": None}
        _save_failed_attempt(item, fields, exc, now)
        config.stop(message, now)
        signals.config_stopped.send_robust(sender=family, config=config, reason=message)
        logger.error("outbox.config_stopped provider=%s org=%s error=%s", item.provider, item.organisation_id, message)
        return AttemptOutcome(RetryState.PENDING, message)
    fields = {
        "attempts": attempts,
        "last_error": message,
        "last_attempt_at": now,
        "leased_until": None,
        "state": RetryState.DEAD,
    }
    _save_failed_attempt(item, fields, exc, now)
    config.mark_failure(message, now)
    item.refresh_from_db()
    signals.delivery_dead.send_robust(sender=family, item=item, error=message)
    logger.error("outbox.dead provider=%s item=%s error=%s", item.provider, item.pk, message)
    return AttemptOutcome(RetryState.DEAD, message)


def _save_failed_attempt(item, fields: dict, exc, now) -> None:
    """Record a failed attempt. After a partial delivery (see IntegrationError) the item keeps
    only the unsent part, and the part that went out is written as a succeeded row in the same
    transaction: overwriting the payload alone would forget what the vendor already has."""
    unsent = getattr(exc, "unsent_payload", None)
    with transaction.atomic():
        if unsent is not None:
            fields = {**fields, "payload": unsent}
            sent = getattr(exc, "sent_payload", None)
            if sent is not None:
                _record_delivered_part(item, sent, attempt=fields["attempts"], now=now)
        type(item).objects.filter(pk=item.pk).update(**fields)


def _record_delivered_part(item, payload, *, attempt: int, now) -> None:
    """A succeeded row for the part of `item` that attempt `attempt` delivered. Its dedupe key
    extends the item's, so whoever finds an item's rows by key prefix finds this one too."""
    model = type(item)
    limit = model._meta.get_field("dedupe_key").max_length
    model.objects.create(
        organisation_id=item.organisation_id,
        provider=item.provider,
        operation=item.operation,
        payload=payload,
        dedupe_key=part_key(item.dedupe_key, attempt, limit) if item.dedupe_key else None,
        state=RetryState.SUCCEEDED,
        attempts=1,
        max_attempts=item.max_attempts,
        next_attempt_at=now,
        last_attempt_at=now,
        succeeded_at=now,
        result={"delivered_part_of": item.pk, "attempt": attempt},
        created_at=item.created_at,
        correlation_id=item.correlation_id,
    )


def part_key(dedupe_key: str, attempt: int, limit: int) -> str:
    """`<dedupe_key>~part<attempt>`, at most `limit` characters (a long key keeps its start and
    gains a digest of the whole, so two long keys never collide)."""
    suffix = f"~part{attempt}"
    if len(dedupe_key) + len(suffix) <= limit:
        return dedupe_key + suffix
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:16]
    return f"{dedupe_key[: limit - len(suffix) - 17]}#{digest}{suffix}"


def _finish(item, state, error, now) -> None:
    fields = {"state": state, "leased_until": None, "last_attempt_at": now, "attempts": item.attempts + 1}
    if state == RetryState.SUCCEEDED:
        fields.update(succeeded_at=now, last_error="", result=item.result)
    else:
        fields["last_error"] = error
    type(item).objects.filter(pk=item.pk).update(**fields)


def _save_log(log, started) -> None:
    log.finished_at = timezone.now()
    log.duration_ms = int((time.monotonic() - started) * 1000)
    log.save()


# -- draining -----------------------------------------------------------------------------------
def due_pairs(family: Family, now=None) -> list[tuple[int | None, str]]:
    """(organisation_id, provider) pairs that have a pending item due now."""
    now = now or timezone.now()
    rows = (
        family.retry_model.objects.filter(state=RetryState.PENDING, next_attempt_at__lte=now)
        .values_list("organisation_id", "provider")
        .distinct()
    )
    return sorted(set(rows), key=lambda pair: (pair[0] or 0, pair[1]))


def drain_pair(
    family: Family | str, organisation_id: int | None, provider: str, *, now=None, limit: int = 1000
) -> dict:
    """Deliver the due items of one (organisation, provider), oldest first, stopping at the first
    one that does not succeed (so order is kept). Returns counts; "skipped" 1 when another drain
    of the pair is running (or, the cache being unreachable, no drain can know it is alone: the
    items wait, due, for the next drain after it is back)."""
    family = get_family(family) if isinstance(family, str) else family
    counts = {"succeeded": 0, "pending": 0, "dead": 0, "skipped": 0}
    key = f"wsi:drain:{family.name}:{organisation_id}:{provider}"
    with leases.hold(key, settings.OUTBOX_DRAIN_LEASE_SECONDS) as lease:
        if lease is None:
            counts["skipped"] = 1
            return counts
        _reclaim_in_flight(family, organisation_id, provider)
        _deliver_due(family, organisation_id, provider, lease, counts, now=now, limit=limit)
    return counts


def _reclaim_in_flight(family: Family, organisation_id: int | None, provider: str) -> None:
    """Holding the pair's lease proves no live drain is sending its items, so an item still
    leased was in flight when its drain died (SIGKILL, OOM): it is due again now rather than when
    its own lease would run out (sent again: the outbox's at-least-once)."""
    reclaimed = family.retry_model.objects.filter(
        organisation_id=organisation_id, provider=provider, state=RetryState.PENDING, leased_until__isnull=False
    ).update(leased_until=None)
    if reclaimed:
        logger.warning(
            "outbox.lease_reclaimed provider=%s org=%s items=%d: their drain stopped before recording the outcome;"
            " sending again",
            provider,
            organisation_id,
            reclaimed,
        )


def _deliver_due(family: Family, organisation_id, provider: str, lease, counts: dict, *, now, limit: int) -> None:
    pending = family.retry_model.objects.filter(
        organisation_id=organisation_id, provider=provider, state=RetryState.PENDING
    ).order_by("id")
    for item in pending[:limit]:
        if not lease.held():  # not renewed in time: stop before a successor may start
            logger.warning("outbox.lease_lost provider=%s org=%s: drain stopped", provider, organisation_id)
            return
        current = now or timezone.now()
        if item.next_attempt_at > current:
            return  # the oldest is backing off: later ones wait behind it
        outcome = deliver_item(family, item, now=current)
        counts[outcome.state] = counts.get(outcome.state, 0) + 1
        # A dead item (malformed payload, attempts exhausted) must not block the queue;
        # one that will be retried, or could not be attempted, holds back the later ones.
        if outcome.state not in (RetryState.SUCCEEDED, RetryState.DEAD):
            return


def replay(items, *, now=None) -> dict:
    """Staff "replay now": make the items due (dead ones get fresh attempts) and drain their pairs."""
    now = now or timezone.now()
    pairs: dict[tuple, Family] = {}
    for item in items:
        if item.state == RetryState.SUCCEEDED:
            continue
        family = _family_of(item)
        fresh_attempts = family.provider(item.provider).retry_policy.max_attempts
        # Guarded on the stored state, and leases left alone: an item a worker delivered, or is
        # delivering right now, since the admin page was loaded must not be sent a second time.
        type(item).objects.filter(pk=item.pk).exclude(state=RetryState.SUCCEEDED).update(
            state=RetryState.PENDING,
            next_attempt_at=now,
            max_attempts=max(item.max_attempts, item.attempts + fresh_attempts),
        )
        pairs[(item.organisation_id, item.provider)] = family
    totals = {"succeeded": 0, "pending": 0, "dead": 0, "skipped": 0}
    for (organisation_id, provider), family in pairs.items():
        for key, value in drain_pair(family, organisation_id, provider, now=now).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _family_of(item) -> Family:
    from .registry import families

    for family in families():
        if family.retry_model is type(item):
            return family
    raise LookupError(f"no family owns {type(item).__name__}")


def queue_depth(family: Family, organisation_id=None, provider=None) -> int:
    qs = family.retry_model.objects.filter(state=RetryState.PENDING)
    if organisation_id is not None:
        qs = qs.filter(organisation_id=organisation_id)
    if provider is not None:
        qs = qs.filter(provider=provider)
    return qs.count()


def resume_config(config) -> None:
    """After staff fix a stopped config: resume it and make its held items due at once."""
    if config.status == ConfigStatus.STOPPED:
        config.resume()
    config.family().retry_model.objects.filter(
        organisation_id=config.organisation_id, provider=config.provider, state=RetryState.PENDING
    ).update(next_attempt_at=timezone.now())

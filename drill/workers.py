"""A Celery worker killed with SIGKILL in the middle of draining a channel: another worker takes
the pair over as soon as the dead one's drain lease lapses (about 10 s), every delivery reaches
the vendor in order, and only the one in flight at the kill may arrive twice."""

from __future__ import annotations

import time

from wedsync_integrations.integrations.models import RetryState

from .outages import OUTAGES, configure, deliveries, drain_until_delivered, last_seq, outage_row, request_drain
from .report import WORKER_RECOVERY_LIMIT_SECONDS, Row
from .stack import RUN

DELIVERIES = 30
SEND_SECONDS = 0.3  # the vendor is slow, so the drain is long enough to be killed in the middle
KILL_AFTER = 5  # deliveries
TAKEOVER_POLL_SECONDS = 0.25


def worker_killed_mid_drain(stack) -> list[Row]:
    slack = next(outage for outage in OUTAGES if outage.provider == "slack")
    config = configure(stack, slack)
    since = last_seq(stack.sandbox)
    stack.sandbox.fault("/slack", kind="slow", delay=SEND_SECONDS, times=0)
    stack.start_worker("successor")  # ready beforehand: the drill times the takeover, not a start-up
    markers = slack.produce(config, DELIVERIES, RUN)
    request_drain(config, stack.own_queue("first"))
    _wait_for_deliveries(stack.sandbox, markers, since, KILL_AFTER)

    stack.workers["first"].kill()  # SIGKILL mid-drain: no release, no bookkeeping for the send in flight
    killed_at = time.monotonic()
    stack.sandbox.clear_faults()
    taken_over_at = _takeover(config, successor_queue=stack.own_queue("successor"))

    def arrived() -> list[str]:
        return deliveries(stack.sandbox, "slack", markers, since)

    drain_until_delivered(stack, config, markers, arrived, queue=stack.own_queue("successor"))
    recovered_in = taken_over_at - killed_at if taken_over_at is not None else None
    requests = len(stack.sandbox.requests("/slack", since=since))
    row = outage_row("worker: SIGKILL mid-drain", requests, markers, arrived(), recovered_in, allowed_duplicates=1)
    row.recovery_limit = WORKER_RECOVERY_LIMIT_SECONDS
    return [row]


def _wait_for_deliveries(sandbox, markers: list[str], since: int, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(deliveries(sandbox, "slack", markers, since)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the first worker delivered fewer than {count} in {timeout} s")
        time.sleep(0.05)


def _takeover(config, *, successor_queue: str) -> float | None:
    """Ask the successor for a drain every half second (beat's part) until it delivers an item
    (the database says so: the dead worker records nothing more); the monotonic time then."""
    succeeded = config.family().retry_model.objects.filter(
        organisation_id=config.organisation_id, provider=config.provider, state=RetryState.SUCCEEDED
    )
    before = succeeded.count()
    deadline = time.monotonic() + WORKER_RECOVERY_LIMIT_SECONDS * 2
    next_drain = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_drain:
            request_drain(config, successor_queue)
            next_drain = time.monotonic() + 0.5
        if succeeded.count() > before:
            return time.monotonic()
        time.sleep(TAKEOVER_POLL_SECONDS)
    return None

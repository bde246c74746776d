"""A real Celery worker on the real broker and the test database (CI's second pass)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.sandbox import providers_for_tests
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.tasks import drain_pair

from . import worker_tasks
from .conftest import SERVICES

pytestmark = [
    pytest.mark.services,
    pytest.mark.worker,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]

API_KEY = "sk-worker-test-key-0123456789"
ITEMS = "/testvendor" + providers_for_tests.ITEMS_PATH


@pytest.fixture
def sandboxed_provider():
    provider = providers_for_tests.register()
    yield provider
    providers_for_tests.unregister()


@pytest.fixture
def sandboxed_config(sandbox, sandboxed_provider, make_config, organisation):
    """A monitoring config of the sandboxed test vendor, which accepts every item (202)."""
    sandbox.route("POST", ITEMS, status=202, json={"accepted": True})
    return make_config(
        "monitoring",
        organisation,
        "sandboxed",
        settings={"base_url": sandbox.vendor_url("testvendor")},
        secrets={"api_key": API_KEY},
    )


def test_a_task_round_trips_through_the_broker_and_the_result_backend(start_worker, worker_queue, make_organisation):
    make_organisation(slug="kew-weddings", name="Kew Weddings")
    worker = start_worker()
    result = worker_tasks.organisation_name.apply_async(args=["kew-weddings"], queue=worker_queue)
    answer = result.get(timeout=60)
    assert answer["name"] == "Kew Weddings"  # read from the test database by another process
    assert answer["pid"] == worker.process.pid  # solo pool: the worker process itself ran it
    assert result.successful()


def test_a_failed_delivery_is_replayed_by_the_kernel_drain_task_on_the_worker(
    start_worker, worker_queue, sandbox, sandboxed_config, organisation
):
    config = sandboxed_config
    family = get_family("monitoring")
    item = outbox.enqueue(config, operation="series", payload={"n": 7, "metric": "wedsync.ai.cost_gbp"})
    sandbox.fault("/testvendor", kind="status", status=503)
    start_worker()

    first = drain_pair.apply_async(args=["monitoring", organisation.pk, "sandboxed"], queue=worker_queue)
    assert first.get(timeout=60) == {"succeeded": 0, "pending": 1, "dead": 0, "skipped": 0}
    item.refresh_from_db()
    assert (item.state, item.attempts) == (RetryState.PENDING, 1)
    assert "HTTP 503" in item.last_error

    # the backoff has passed (as for the next beat-driven drain)
    type(item).objects.filter(pk=item.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    second = drain_pair.apply_async(args=["monitoring", organisation.pk, "sandboxed"], queue=worker_queue)
    assert second.get(timeout=60) == {"succeeded": 1, "pending": 0, "dead": 0, "skipped": 0}

    sent = sandbox.requests("/testvendor")
    assert [(r.method, r.path, r.fault, r.status) for r in sent] == [
        ("POST", ITEMS, "status", 503),
        ("POST", ITEMS, None, 202),
    ]
    expected_body = {"operation": "series", "n": 7, "metric": "wedsync.ai.cost_gbp"}
    assert [r.json() for r in sent] == [expected_body, expected_body]
    assert all(r.headers["X-Api-Key"] == API_KEY for r in sent)
    item.refresh_from_db()
    assert (item.state, item.attempts, item.result) == (RetryState.SUCCEEDED, 2, {"accepted": True})
    logs = list(family.sync_log_model.objects.order_by("id").values_list("outcome", "http_status"))
    assert logs == [(SyncOutcome.RETRYING, 503), (SyncOutcome.SUCCESS, 202)]


def test_a_task_whose_worker_is_killed_mid_run_is_redelivered_to_another_worker(start_worker, worker_queue, tmp_path):
    # prefork: the pool child runs the task while the main process keeps the broker connection
    # busy, so an early ack (acks_late off) really is sent before the kill and the task is lost.
    journal = tmp_path / "runs.txt"
    doomed = start_worker(name="doomed", pool="prefork").wait_ready()
    result = worker_tasks.run_once_then_hang.apply_async(args=[str(journal), 300], queue=worker_queue)
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.read_text().strip()):
        assert time.monotonic() < deadline, f"the task never started:\n{doomed.log()}"
        time.sleep(0.1)
    time.sleep(0.5)  # give an early ack, were there one, time to reach the broker
    doomed.kill()  # SIGKILL to the whole process group, as when the machine dies

    # A second worker takes the unacknowledged message once its visibility timeout has passed.
    rescuer = start_worker(name="rescuer", pool="prefork", WSI_TEST_VISIBILITY_TIMEOUT="2")
    answer = result.get(timeout=90)
    assert journal.read_text().split() == [doomed.hostname, rescuer.hostname], rescuer.log()
    assert answer == {"worker": rescuer.hostname, "runs": 2}


def test_a_worker_killed_mid_drain_is_succeeded_within_seconds_and_nothing_is_lost(
    start_worker, worker_queue, sandbox, sandboxed_config, organisation
):
    """Issue 14, item 7: the drain lock outlived a SIGKILLed holder by five minutes, stalling its
    pair. Its lease now lapses within OUTBOX_DRAIN_LEASE_SECONDS (nobody renews it) and the next
    drain takes over: every item delivered, in order, only the one in flight sent twice."""
    config = sandboxed_config
    family = get_family("monitoring")
    total = 40
    for n in range(total):
        outbox.enqueue(config, operation="series", payload={"n": n})
    sandbox.fault("/testvendor", kind="slow", delay=0.4, times=0)  # a long drain: 0.4 s a send
    doomed = start_worker(name="doomed").wait_ready()
    drain_pair.apply_async(args=["monitoring", organisation.pk, "sandboxed"], queue=worker_queue)
    sandbox.wait_for(ITEMS.split("/api")[0], count=2, timeout=60)
    successor = start_worker(name="successor").wait_ready()  # idle on the same queue meanwhile
    assert len(sandbox.requests(ITEMS.split("/api")[0])) < total, "the drain finished before the kill"

    doomed.kill()  # SIGKILL mid-drain: no release, no bookkeeping for the send in flight
    killed_at = time.monotonic()
    sandbox.clear_faults()
    succeeded = family.retry_model.objects.filter(state=RetryState.SUCCEEDED)
    at_kill = succeeded.count()
    recovered_after = None
    while succeeded.count() < total:  # beat's part: a drain of the pair every half second
        assert time.monotonic() - killed_at < 60, f"no takeover after 60 s:\n{successor.log()}"
        drain_pair.apply_async(args=["monitoring", organisation.pk, "sandboxed"], queue=worker_queue)
        time.sleep(0.5)
        if recovered_after is None and succeeded.count() > at_kill:
            recovered_after = time.monotonic() - killed_at

    assert recovered_after is not None and recovered_after < 20, recovered_after  # lease 10 s, drains every 0.5 s
    sent = [request.json()["n"] for request in sandbox.requests(ITEMS.split("/api")[0])]
    first_sends = list(dict.fromkeys(sent))
    assert first_sends == list(range(total))  # in order
    assert len(sent) - total <= 1  # only the item in flight at the kill went twice

"""On the real services (PostgreSQL, Redis, a Celery worker): concurrent duplicate deliveries are
stored once and the rate limit holds across threads. (A real worker processing accounting
webhooks, and one a dead worker left behind: tests/accounting/test_services.py, which uses the
webhook_worker fixture below.) Run by CI's second pass (WEDSYNC_SERVICES=1)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from tests.services.conftest import SERVICES, Worker, database_url, services_skip_reason
from webhooks import ratelimit
from webhooks.models import InboundEvent

from . import vendors
from .cases import WHSEC

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]


def _in_threads(count: int, work) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int):
        try:
            barrier.wait()
            results[index] = work(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_simultaneous_retries_of_one_delivery_are_stored_once(organisation, webhook_config):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    webhook_config("generic", organisation, WHSEC)
    body = vendors.as_json({"type": "crm.client.created", "data": {"id": "c_1"}})
    headers = vendors.standard_headers(WHSEC, "msg_race", body)
    path = f"{vendors.API}/generic/acme/"

    responses = _in_threads(8, lambda _: Client().post(path, data=body, content_type="application/json",
                                                      headers=headers))  # fmt: skip

    assert {r.status_code for r in responses} == {200}
    assert InboundEvent.objects.count() == 1
    assert {r["X-Inbound-Event-Ids"] for r in responses} == {str(InboundEvent.objects.get().pk)}
    assert sum(r.json()["duplicates"] for r in responses) == 7


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_is_exact_across_concurrent_requests_on_redis(settings):
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        pytest.skip("needs CACHE_URL=redis://…")
    now = time.time()
    allowed = _in_threads(20, lambda i: sum(ratelimit.hit("generic", 4242, 50, now=now).allowed for _ in range(10)))
    assert sum(allowed) == 50  # 200 attempts, exactly the limit let through


@pytest.mark.django_db(transaction=True)
def test_leases_across_processes_never_let_more_than_the_limit_through_on_redis(settings, monkeypatch):
    """Three processes (their lease tables swapped in turn) share one Redis count of a high
    limit: each takes leases, none can take more than remains, all together exactly the limit."""
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        pytest.skip("needs CACHE_URL=redis://…")
    now, limit = time.time(), 2000
    processes = [{}, {}, {}]
    allowed = 0
    for turn in range(2400):
        monkeypatch.setattr(ratelimit, "_leases", processes[turn % 3])
        allowed += ratelimit.hit("generic", 4343, limit, now=now).allowed
    assert allowed == limit
    assert all(not lease.tokens for table in processes for lease in table.values())  # nothing stranded


@pytest.fixture
def webhook_worker(transactional_db, tmp_path, settings):
    """A real Celery worker consuming this test's own webhook queue, on the test database."""
    reason = services_skip_reason()
    if reason:
        pytest.skip(reason)
    queue = f"wsi-webhooks-{os.getpid()}-{int(time.time() * 1000)}"
    settings.WEBHOOK_TASK_QUEUE = settings.WEBHOOK_PRIORITY_QUEUE = queue
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "wedsync_integrations.test_settings",
           "DATABASE_URL": database_url(), "WEBHOOK_TASK_QUEUE": queue, "WEBHOOK_PRIORITY_QUEUE": queue}  # fmt: skip
    worker = Worker(queue, tmp_path, env, name="webhooks").start().wait_ready()
    yield worker
    worker.stop()


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False

"""Correlation ids: adopted from X-Request-ID, echoed, and carried into Celery tasks."""

from __future__ import annotations

import contextvars
import re
import uuid

import pytest
from celery.worker.request import Request
from django.http import HttpResponse
from django.test import RequestFactory

from wedsync_integrations.celery import app
from wedsync_integrations.core.observability import (
    HEADER,
    TASK_HEADER,
    CorrelationIdMiddleware,
    correlation_scope,
    get_correlation_id,
)


@app.task(name="tests.kernel.echo_correlation_id")
def echo_correlation_id():
    return get_correlation_id()


def _through_middleware(**headers):
    seen = {}

    def view(request):
        seen["during"] = get_correlation_id()
        seen["attribute"] = request.correlation_id
        return HttpResponse("ok")

    response = CorrelationIdMiddleware(view)(RequestFactory().get("/x", headers=headers))
    return seen, response


def test_a_well_formed_request_id_is_adopted_for_the_request_and_echoed():
    seen, response = _through_middleware(**{HEADER: "lb-7f3a.2026:06:13"})
    assert seen == {"during": "lb-7f3a.2026:06:13", "attribute": "lb-7f3a.2026:06:13"}
    assert response[HEADER] == "lb-7f3a.2026:06:13"


@pytest.mark.parametrize(
    "bad", ["two words", "x" * 65, "<script>alert(1)</script>", "id\r\nSet-Cookie: a=b", "emoji-☃", ""]
)
def test_a_malformed_request_id_is_replaced_with_a_fresh_one(bad):
    seen, response = _through_middleware(**{HEADER: bad})
    assert seen["during"] != bad and re.fullmatch(r"[0-9a-f]{32}", seen["during"])
    assert response[HEADER] == seen["during"]


def test_without_a_request_id_each_request_gets_its_own_and_it_does_not_leak_out():
    first, _ = _through_middleware()
    second, _ = _through_middleware()
    assert first["during"] != second["during"]
    with correlation_scope("outer-id"):
        _through_middleware()
        assert get_correlation_id() == "outer-id"  # restored after the request


@pytest.fixture(autouse=True)
def _empty_queue():
    """Other tests may have left messages on the in-memory broker's default queue."""
    with app.connection_for_write() as connection:
        connection.SimpleQueue("celery").clear()


def _published_message():
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        try:
            return queue.get(timeout=2)
        finally:
            queue.close()


def test_a_published_task_carries_the_id_in_its_headers_and_the_worker_adopts_it():
    with correlation_scope("req-9b1e"):
        echo_correlation_id.apply_async()
    message = _published_message()
    assert message.headers[TASK_HEADER] == "req-9b1e"
    # run it the way a worker does: the id comes back from inside the task
    assert Request(message, app=app).execute() == "req-9b1e"


def test_publishing_outside_any_scope_sends_no_id_and_the_task_uses_its_own():
    # beat and shell sessions: no id is minted and pinned on the publisher
    contextvars.Context().run(echo_correlation_id.apply_async)
    message = _published_message()
    assert TASK_HEADER not in message.headers
    task_id = message.headers["id"]
    assert Request(message, app=app).execute() == task_id


def test_an_eager_task_keeps_its_caller_id():
    with correlation_scope("inline-1"):
        assert echo_correlation_id.apply().get() == "inline-1"
    assert echo_correlation_id.apply(headers={TASK_HEADER: "given-2"}).get() == "given-2"
    task_id = str(uuid.uuid4())
    fresh = contextvars.Context()  # no id in force at all (other tests may have left one in ours)
    assert fresh.run(lambda: echo_correlation_id.apply(task_id=task_id).get()) == task_id

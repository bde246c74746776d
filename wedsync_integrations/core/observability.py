"""Correlation ids: one id follows a piece of work through web, Celery and vendor calls.

Every log line carries it (CorrelationIdFilter), inbound requests take it from X-Request-ID or
get a new one, and Celery tasks inherit the id of whoever queued them.
"""

import contextlib
import logging
import re
import uuid
from contextvars import ContextVar

from celery import signals

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = "X-Request-ID"


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str:
    """The current id, creating one if this context has none yet."""
    value = _correlation_id.get()
    if value is None:
        value = new_correlation_id()
        _correlation_id.set(value)
    return value


@contextlib.contextmanager
def correlation_scope(value: str | None = None):
    """Run a block under a given (or fresh) correlation id, restoring the previous one after."""
    token = _correlation_id.set(value if value and _SAFE_ID.match(value) else new_correlation_id())
    try:
        yield _correlation_id.get()
    finally:
        _correlation_id.reset(token)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get() or "-"
        return True


class CorrelationIdMiddleware:
    """Adopts a caller's X-Request-ID when it is well-formed, and echoes the id in the reply."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with correlation_scope(request.headers.get(HEADER)) as cid:
            request.correlation_id = cid
            response = self.get_response(request)
            response[HEADER] = cid
            return response


@signals.before_task_publish.connect
def _attach_correlation_id(headers=None, **_kwargs):
    if headers is not None and "correlation_id" not in headers:
        headers["correlation_id"] = get_correlation_id()


_task_tokens: dict[str, object] = {}


@signals.task_prerun.connect
def _adopt_correlation_id(task_id=None, task=None, **_kwargs):
    cid = getattr(task.request, "correlation_id", None) if task is not None else None
    _task_tokens[task_id] = _correlation_id.set(cid if cid and _SAFE_ID.match(str(cid)) else task_id)


@signals.task_postrun.connect
def _drop_correlation_id(task_id=None, **_kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        with contextlib.suppress(ValueError):
            _correlation_id.reset(token)

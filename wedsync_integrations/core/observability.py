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
from celery.utils.log import get_multiprocessing_logger

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = "X-Request-ID"
# Celery message header carrying the id. Not "correlation_id": Celery itself sets a message
# property of that name to the task id, which would silently win on the worker.
TASK_HEADER = "wsi_correlation_id"


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


_CELERY_HANDLER_FILTER = CorrelationIdFilter()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _correlate_celery_log_handlers(logger=None, **_kwargs):
    """Worker and beat replace Django's log handlers with Celery's own, whose formats
    (CELERY_WORKER_LOG_FORMAT, CELERY_WORKER_TASK_LOG_FORMAT) print the id: supply it to them."""
    for target in (logger, get_multiprocessing_logger()):
        for handler in getattr(target, "handlers", ()):
            handler.addFilter(_CELERY_HANDLER_FILTER)


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
    # Only an id that is already in force travels: minting one here would pin a single id on
    # the publisher's context for good (beat would stamp every task it ever sends with it).
    current = _correlation_id.get()
    if headers is not None and current and TASK_HEADER not in headers:
        headers[TASK_HEADER] = current


_task_tokens: dict[str, object] = {}


def _published_correlation_id(request) -> str | None:
    """The id the publisher attached: a message header becomes a request attribute on a worker;
    `apply(headers=...)` keeps it in request.headers."""
    cid = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return str(cid) if cid and _SAFE_ID.match(str(cid)) else None


@signals.task_prerun.connect
def _adopt_correlation_id(task_id=None, task=None, **_kwargs):
    request = task.request if task is not None else None
    cid = _published_correlation_id(request) if request is not None else None
    if cid is None and request is not None and getattr(request, "is_eager", False):
        cid = _correlation_id.get()  # run inline by its caller: it is part of the caller's work
    _task_tokens[task_id] = _correlation_id.set(cid or task_id)


@signals.task_postrun.connect
def _drop_correlation_id(task_id=None, **_kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        with contextlib.suppress(ValueError):
            _correlation_id.reset(token)

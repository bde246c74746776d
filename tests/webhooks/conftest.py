"""Fixtures for the webhooks tests: handler capture, dispatch, a fresh configuration cache. (Source
configs, `webhook_config`, and the raw-bytes client, `post`, are in tests/conftest.py: the families
that handle events use them too.)"""

from __future__ import annotations

import pytest

from webhooks import registry
from webhooks.models import InboundEvent

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks reference test secret
OTHER_WHSEC = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="  # 32 bytes, organisation B


@pytest.fixture(autouse=True)
def _publish_as_events_arrive(settings):
    """Most tests follow an event from request to handler, so every source publishes its task as
    the event is stored; the per-source defaults (alert sources now, CRM/accounting by the
    sweeper) have their own tests, which set WEBHOOK_DISPATCH back to ""."""
    settings.WEBHOOK_DISPATCH = "immediate"


@pytest.fixture(autouse=True)
def _fresh_config_cache():
    """Each test starts with no configuration cached by the endpoint."""
    from webhooks.intake import forget_targets

    forget_targets()
    yield
    forget_targets()


@pytest.fixture
def handled():
    """Register test handlers for the duration of a test: handled(source, *types) -> list of events seen."""
    saved = registry.registered()
    seen: list[InboundEvent] = []

    def register(source, *event_types, fail_times: int = 0, error: Exception | None = None):
        state = {"failures": fail_times}

        @registry.handles(source, *event_types)
        def capture(event):
            if state["failures"] > 0:
                state["failures"] -= 1
                raise error or RuntimeError("handler crashed")
            seen.append(event)

        return capture

    register.seen = seen
    yield register
    registry._handlers.clear()
    registry._handlers.update(saved)


@pytest.fixture
def no_dispatch(monkeypatch):
    """Record what would be published to Celery instead of publishing it."""
    published: list[tuple[int, int]] = []
    monkeypatch.setattr(
        "webhooks.inbox.publish", lambda event_id, priority=0: published.append((event_id, priority)) or True
    )
    return published

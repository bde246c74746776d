"""Fixtures for the webhooks tests: source configs, a client that posts raw bytes, handler capture."""

from __future__ import annotations

import pytest
from django.test import Client

from webhooks import registry
from webhooks.models import InboundEvent

from .vendors import API

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
def webhook_config(make_config):
    def make(source: str, organisation, secret: str | None = "s3cret-signing-key-0001", settings=None, **extra):
        secrets = {"signing_secret": secret} if secret else {}
        secrets.update(extra.pop("secrets", {}))
        return make_config("webhooks", organisation, source, settings=settings or {}, secrets=secrets, **extra)

    return make


@pytest.fixture
def post(db, django_capture_on_commit_callbacks):
    """post(source, org_slug_or_None, body: bytes, headers={}, content_type=..., query="") -> response

    on_commit callbacks (the Celery publish) run as they would after a real commit."""
    client = Client()

    def send(source, org_slug, body: bytes, headers=None, content_type="application/json", query=""):
        path = f"{API}/{source}/" + (f"{org_slug}/" if org_slug else "") + (f"?{query}" if query else "")
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, data=body, content_type=content_type, headers=headers or {})

    return send


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


@pytest.fixture
def eager_celery():
    """Run published Celery tasks in-process, as a worker would, for end-to-end tests."""
    from wedsync_integrations.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous

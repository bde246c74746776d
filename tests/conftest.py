"""Shared fixtures: factories for tenants and configs, a frozen-clock helper, a fake provider."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from django.core.cache import cache
from django.test import Client

from tests.webhooks.vendors import API as WEBHOOKS_API
from wedsync_integrations.integrations.registry import DeliveryResult, HealthResult, Provider, get_family
from wedsync_integrations.tenants.models import Organisation, Wedding

# the vendor sandbox: fixtures `sandbox` (clean per test) and `sandbox_server` (one process per session)
pytest_plugins = ["wedsync_integrations.sandbox.pytest_plugin"]

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Before the test database is created: the embedded default's var/ folder it lives in (what
    manage.py prepares for every command; pytest does not go through manage.py)."""
    from wedsync_integrations.core.local_files import prepare

    prepare()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Circuit breakers, rate limits and health live in the cache: start every test clean
    (with the rate limit's per-process leases of the cleared counts)."""
    from webhooks.ratelimit import forget_leases

    cache.clear()
    forget_leases()
    yield
    cache.clear()
    forget_leases()


@pytest.fixture
def make_organisation(db):
    def make(**fields) -> Organisation:
        n = next(_counter)
        fields.setdefault("slug", f"org-{n}")
        fields.setdefault("name", f"Organisation {n}")
        fields.setdefault("vendor_type", "photographer")
        return Organisation.objects.create(**fields)

    return make


@pytest.fixture
def organisation(make_organisation) -> Organisation:
    return make_organisation(slug="acme", name="Acme Photography")


@pytest.fixture
def make_wedding(db):
    def make(organisation: Organisation, day: date, **fields) -> Wedding:
        fields.setdefault("venue", "Kew Gardens")
        fields.setdefault("region", "London")
        return Wedding.objects.create(organisation=organisation, date=day, **fields)

    return make


@pytest.fixture
def make_config(db):
    def make(family: str, organisation: Organisation, provider: str, *, settings=None, secrets=None, **fields):
        model = get_family(family).config_model
        return model.objects.create(
            organisation=organisation, provider=provider, settings=settings or {}, secrets=secrets or {}, **fields
        )

    return make


class FakeProvider(Provider):
    """A provider whose behaviour each test scripts: a list of outcomes consumed per delivery."""

    name = "fake"
    label = "Fake"
    script: list = []
    delivered: list = []

    def deliver(self, operation, payload):
        FakeProvider.delivered.append((operation, payload))
        outcome = FakeProvider.script.pop(0) if FakeProvider.script else None
        if isinstance(outcome, Exception):
            raise outcome
        return DeliveryResult(items=len(payload.get("items", [])) if isinstance(payload, dict) else 0, http_status=202)

    def check_health(self):
        outcome = FakeProvider.script.pop(0) if FakeProvider.script else None
        if isinstance(outcome, Exception):
            raise outcome
        return HealthResult(ok=True, message="fake is fine")


@pytest.fixture
def fake_provider():
    """Register FakeProvider on the monitoring family for the duration of a test."""
    family = get_family("monitoring")
    family.register(FakeProvider)
    FakeProvider.script, FakeProvider.delivered = [], []
    yield FakeProvider
    family.providers.pop("fake", None)


@pytest.fixture
def eager_celery():
    """Run published Celery tasks in-process, as a worker would, for end-to-end tests."""
    from wedsync_integrations.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


# -- inbound webhooks (used by the webhooks tests and by the families that handle events) -------
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
        path = f"{WEBHOOKS_API}/{source}/" + (f"{org_slug}/" if org_slug else "") + (f"?{query}" if query else "")
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, data=body, content_type=content_type, headers=headers or {})

    return send


@pytest.fixture
def queued_syncs(monkeypatch):
    """The integrations.sync_config tasks published (family, config id), instead of running them."""
    from wedsync_integrations.integrations import tasks

    calls = []
    monkeypatch.setattr(tasks.sync_config, "delay", lambda *args: calls.append(args))
    return calls

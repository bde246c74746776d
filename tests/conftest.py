"""Shared fixtures: factories for tenants and configs, a frozen-clock helper, a fake provider."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from django.core.cache import cache

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

"""Kernel-test fixtures: a provider with real settings and secrets schemas, registered on the
monitoring family only for the test that asks for it."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from wedsync_integrations.integrations.registry import (
    BaseSettings,
    HealthResult,
    Provider,
    StrictSerializer,
    SyncResult,
    get_family,
)

API_KEY = "dd-api-key-0123456789abcdef"
APP_KEY = "dd-app-key-fedcba9876543210"


class KeyedSettings(BaseSettings):
    site = serializers.ChoiceField(choices=["datadoghq.com", "datadoghq.eu"], default="datadoghq.com")
    env = serializers.CharField(required=False, max_length=20)
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class KeyedSecrets(StrictSerializer):
    api_key = serializers.CharField(min_length=8)
    app_key = serializers.CharField(required=False, min_length=8)


class KeyedProvider(Provider):
    """A vendor with a settings schema and a required secret, like Datadog."""

    name = "keyed"
    label = "Keyed"
    settings_serializer = KeyedSettings
    secrets_serializer = KeyedSecrets
    default_base_url = "https://api.datadoghq.com"

    def deliver(self, operation, payload):
        raise NotImplementedError

    def check_health(self):
        response = self.client().request("GET", "/api/v1/validate", headers={"DD-API-KEY": self.secret("api_key")})
        return HealthResult(ok=True, message="key valid", http_status=response.status_code)


@pytest.fixture
def family():
    return get_family("monitoring")


@pytest.fixture
def config(fake_provider, make_config, organisation):
    """A monitoring config of the scripted FakeProvider (tests/conftest.py); a module may override it."""
    return make_config("monitoring", organisation, "fake")


@pytest.fixture
def keyed_provider():
    family = get_family("monitoring")
    family.register(KeyedProvider)
    yield KeyedProvider
    family.providers.pop("keyed", None)


@pytest.fixture
def monitoring_sync_handler():
    """Install a scripted sync handler on the monitoring family; restore the real one after."""
    family = get_family("monitoring")
    original = family.sync_handler
    calls = []

    def install(outcomes: dict):
        """outcomes: provider name -> SyncResult or exception to raise."""

        def handler(config, *, progress=None, now=None):
            calls.append(config)
            outcome = outcomes.get(config.provider, SyncResult())
            if progress is not None:
                progress(0, 2, "starting")
                progress(2, 2, "sent")
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        family.sync_handler = handler
        return calls

    yield install
    family.sync_handler = original


def _registered(provider_cls):
    family = get_family("monitoring")
    family.register(provider_cls)
    yield provider_cls
    family.providers.pop(provider_cls.name, None)


@pytest.fixture
def ledger_provider():
    """OAuth 2.0 authorization code with rotating refresh tokens (tests/kernel/credential_providers.py)."""
    from .credential_providers import Ledger

    yield from _registered(Ledger)


@pytest.fixture
def warehouse_provider():
    from .credential_providers import Warehouse

    yield from _registered(Warehouse)


@pytest.fixture
def workbook_provider():
    from .credential_providers import Workbook

    yield from _registered(Workbook)

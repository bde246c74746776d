"""A provider that really talks HTTP through the kernel (Provider.client() -> VendorClient), for
end-to-end tests against the sandbox; also imported by the real Celery worker (tests/services)."""

from __future__ import annotations

from rest_framework import serializers

from wedsync_integrations.integrations.registry import (
    DeliveryResult,
    HealthResult,
    Provider,
    StrictSerializer,
    get_family,
)
from wedsync_integrations.integrations.retry import RetryPolicy

ITEMS_PATH = "/api/v1/items"


class SandboxedSecrets(StrictSerializer):
    api_key = serializers.CharField()


class SandboxedProvider(Provider):
    """POSTs each outbox payload as JSON to <base_url>/api/v1/items with the tenant's API key."""

    name = "sandboxed"
    label = "Sandboxed test vendor"
    secrets_serializer = SandboxedSecrets
    retry_policy = RetryPolicy(base_seconds=1.0, cap_seconds=5.0, max_attempts=10)
    read_timeout = 1.0  # short, so a held connection ("timeout" fault) fails fast

    def deliver(self, operation, payload):
        response = self.client(read_timeout=self.read_timeout).request(
            "POST",
            ITEMS_PATH,
            json={"operation": operation, **payload},
            headers={"X-Api-Key": self.secret("api_key")},
        )
        return DeliveryResult(items=1, http_status=response.status_code, detail=response.json())

    def check_health(self):
        response = self.client(read_timeout=self.read_timeout).request("GET", "/api/v1/ping")
        return HealthResult(ok=True, message=response.text, http_status=response.status_code)


def register() -> type[SandboxedProvider]:
    return get_family("monitoring").register(SandboxedProvider)


def unregister() -> None:
    get_family("monitoring").providers.pop(SandboxedProvider.name, None)

"""The provider contract (tests/contract.py) for each credential scheme's test provider: renewal on
a 401 happens once, issued tokens are hidden like typed secrets."""

from __future__ import annotations

import pytest

from tests.contract import ProviderContract
from wedsync_integrations.integrations import outbox

from .credential_providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    LEDGER_API,
    LEDGER_TOKEN_URL,
    WAREHOUSE_API,
    WAREHOUSE_TOKEN_URL,
    fresh_credential,
)

pytestmark = pytest.mark.django_db


class _Things(ProviderContract):
    family = "monitoring"

    def enqueue(self, config):
        return outbox.enqueue(config, operation="things", payload={"n": 1})

    def mock_health(self, rsps, ok):
        rsps.get(f"{self.api}/v1/me", json={"name": "studio"}, status=200 if ok else 403)


class TestLedgerContract(_Things):
    provider, api = "ledger", LEDGER_API
    write_url, token_url = f"{LEDGER_API}/v1/things", LEDGER_TOKEN_URL

    @pytest.fixture(autouse=True)
    def _registered(self, ledger_provider):
        yield

    def make(self, organisation, make_config):
        secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        return make_config("monitoring", organisation, "ledger", secrets=secrets, credential=fresh_credential())


class TestWarehouseContract(_Things):
    provider, api = "warehouse", WAREHOUSE_API
    write_url, token_url = f"{WAREHOUSE_API}/v1/things", WAREHOUSE_TOKEN_URL

    @pytest.fixture(autouse=True)
    def _registered(self, warehouse_provider):
        yield

    def make(self, organisation, make_config):
        secrets = {"client_id": "warehouse-client", "client_secret": "warehouse-s3cret"}
        return make_config("monitoring", organisation, "warehouse", secrets=secrets)

"""Every BI provider under the kernel's provider contract (tests/contract.py): 401 renewed once then
stopped, 403 stopped, 429 Retry-After honoured, 5xx and timeouts retried, no secret or token shown,
unknown settings refused, a truthful health check."""

from __future__ import annotations

import uuid

import pytest
import responses

from bi.models import Destination
from tests.contract import ProviderContract
from wedsync_integrations.integrations import outbox

from .conftest import (
    LOOKER,
    LOOKER_SECRETS,
    PAT_SECRET,
    PBI_SECRETS,
    POWERBI_API,
    TABLEAU_API,
    TABLEAU_SERVER,
    TENANT,
    TOKEN_URL,
    WORKSPACE,
    fixture,
)

pytestmark = pytest.mark.django_db
DATASET_ID = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
SITE = fixture("tableau", "signin")["credentials"]["site"]["id"]


@pytest.fixture(autouse=True)
def _metrics_are_fresh(fresh_refresh):
    yield


class TestPowerBIContract(ProviderContract):
    family, provider = "bi", "powerbi"
    write_url = f"{POWERBI_API}/groups/{WORKSPACE}/datasets/{DATASET_ID}/tables/ExecutiveMetrics/rows"
    token_url = TOKEN_URL

    def make(self, organisation, make_config):
        settings = {"tenant_id": TENANT, "workspace_id": WORKSPACE}
        config = make_config("bi", organisation, "powerbi", settings=settings, secrets=dict(PBI_SECRETS))
        Destination.objects.create(config=config, vendor_object_id=DATASET_ID, vendor_object_name="x")
        return config

    def enqueue(self, config):
        rows = [{"row_key": "org:1:day:2026-06-13", "requests": 40, "batch_id": "b1"}]
        payload = {"batch_id": f"contract-{uuid.uuid4().hex}",
                   "tables": {"executive_metrics": rows, "feature_usage": []}}  # fmt: skip
        return outbox.enqueue(config, operation="rows", payload=payload)

    def mock_health(self, rsps, ok):
        url = f"{POWERBI_API}/groups/{WORKSPACE}/datasets"
        rsps.get(url, json=fixture("powerbi", "datasets_in_group"), status=200 if ok else 403)


class TestTableauContract(ProviderContract):
    family, provider = "bi", "tableau"
    write_url = f"{TABLEAU_API}/sites/{SITE}/datasources"
    token_url = f"{TABLEAU_API}/auth/signin"

    def make(self, organisation, make_config):
        settings = {"server_url": TABLEAU_SERVER, "api_version": "3.24", "project_id": "p-1", "pat_name": "wedsync"}
        return make_config("bi", organisation, "tableau", settings=settings, secrets={"pat_secret": PAT_SECRET})

    def enqueue(self, config):
        return outbox.enqueue(config, operation="publish", payload={"scope_keys": None, "rows": 0})

    def mock_success(self, rsps):
        rsps.add(responses.POST, self.write_url, status=201, json=fixture("tableau", "publish_datasource"))

    def mock_token(self, rsps):
        rsps.add(responses.POST, self.token_url, json=fixture("tableau", "signin"))

    def mock_health(self, rsps, ok):
        url = f"{TABLEAU_API}/sites/{SITE}/datasources"
        if ok:
            rsps.get(url, json=fixture("tableau", "datasources_query"))
        else:
            rsps.get(url, status=403, json={"error": {"code": "403004", "summary": f"Forbidden {PAT_SECRET}"}})


class TestLookerContract(ProviderContract):
    family, provider = "bi", "looker"
    write_method = "PATCH"
    write_url = f"{LOOKER}/api/4.0/datagroups/42"
    token_url = f"{LOOKER}/api/4.0/login"

    def make(self, organisation, make_config):
        config = make_config("bi", organisation, "looker", settings={"base_url": LOOKER},
                             secrets=dict(LOOKER_SECRETS))  # fmt: skip
        Destination.objects.create(config=config, vendor_object_id="42")
        return config

    def enqueue(self, config):
        return outbox.enqueue(config, operation="trigger_datagroup", payload={"loaded_at": None, "rows": 1})

    def mock_success(self, rsps):
        rsps.add(responses.PATCH, self.write_url, json=fixture("looker", "datagroups")[0])

    def mock_token(self, rsps):
        rsps.add(responses.POST, self.token_url, json=fixture("looker", "login"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.get(f"{LOOKER}/api/4.0/user", json=fixture("looker", "user"))
            rsps.get(f"{LOOKER}/api/4.0/datagroups", json=fixture("looker", "datagroups"))
        else:
            rsps.get(f"{LOOKER}/api/4.0/user", status=403, json=fixture("looker", "login_error"))

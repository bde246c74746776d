"""Datadog under the kernel's provider contract (tests/contract.py)."""

from __future__ import annotations

import time

import pytest

from monitoring.providers.datadog import SITES
from tests.contract import ProviderContract
from tests.fixtures import load
from wedsync_integrations.integrations import outbox

from .conftest import DD_KEY

pytestmark = pytest.mark.django_db
API = SITES["US1"]


class TestDatadogContract(ProviderContract):
    family, provider = "monitoring", "datadog"
    write_url = f"{API}/api/v2/series"

    def make(self, organisation, make_config):
        return make_config("monitoring", organisation, "datadog", secrets={"api_key": DD_KEY})

    def enqueue(self, config):
        point = {"timestamp": int(time.time()) - 60, "value": 40}
        requests = {"metric": "wedsync.ai.requests", "type": 1, "interval": 3600, "points": [point], "tags": ["org:a"]}
        series = [requests]
        return outbox.enqueue(config, operation="series", payload={"series": series})

    def mock_success(self, rsps):
        rsps.post(self.write_url, status=202, json=load("monitoring", "datadog", "series_accepted"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.get(f"{API}/api/v1/validate", json=load("monitoring", "datadog", "validate_valid"))
        else:  # Datadog's 403 body, echoing the key as some vendors do: it must never be shown
            forbidden = load("monitoring", "datadog", "forbidden")
            rsps.get(f"{API}/api/v1/validate", status=403, json={"errors": [*forbidden["errors"], DD_KEY]})

"""New Relic and the Prometheus Pushgateway push under the kernel's provider contract (tests/contract.py)."""

from __future__ import annotations

import time

import pytest

from tests.contract import ProviderContract
from tests.fixtures import load
from wedsync_integrations.integrations import outbox

from .conftest import NR_KEY, SCRAPE_TOKEN

pytestmark = pytest.mark.django_db
METRIC_API = "https://metric-api.newrelic.com/metric/v1"
GATEWAY = "http://localhost:9091"


class TestNewRelicContract(ProviderContract):
    family, provider = "monitoring", "newrelic"
    write_url = METRIC_API

    def make(self, organisation, make_config):
        return make_config("monitoring", organisation, "newrelic", secrets={"license_key": NR_KEY})

    def enqueue(self, config):
        block = {
            "common": {"timestamp": int(time.time() * 1000) - 60_000, "interval.ms": 3_600_000},
            "metrics": [{"name": "wedsync.ai.requests", "type": "count", "value": 40, "interval.ms": 3_600_000}],
        }
        return outbox.enqueue(config, operation="series", payload=[block])

    def mock_success(self, rsps):
        rsps.post(METRIC_API, status=202, json=load("monitoring", "newrelic", "metric_accepted"))

    def mock_health(self, rsps, ok):
        reply = load("monitoring", "newrelic", "metric_accepted" if ok else "forbidden")
        rsps.post(METRIC_API, status=202 if ok else 403, json=reply)


class TestPushgatewayContract(ProviderContract):
    family, provider = "monitoring", "prometheus"
    write_method = "PUT"
    write_url = f"{GATEWAY}/metrics/job/wedsync_ai/org/acme"

    def make(self, organisation, make_config):
        settings, secrets = {"pushgateway_url": GATEWAY}, {"bearer_token": SCRAPE_TOKEN}
        return make_config("monitoring", organisation, "prometheus", settings=settings, secrets=secrets)

    def enqueue(self, config):
        provider = config.get_provider()
        return outbox.enqueue(config, operation="push", payload={"job": "wedsync_ai", "grouping": provider.grouping()})

    def mock_success(self, rsps):
        rsps.put(self.write_url, status=200, body="")

    def mock_health(self, rsps, ok):
        rsps.get(f"{GATEWAY}/-/healthy", status=200 if ok else 503, body=load("monitoring", "pushgateway", "healthy"))

"""Power BI: the exact requests (token, dataset lookup/creation, rows), the stored dataset id, the
ledger of sent batches, the per-request row limit, and the gates blocking a push."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses
from freezegun import freeze_time

from bi.family import FAMILY
from bi.models import Destination, PowerBIBatch
from bi.providers.powerbi import SCOPE, dataset_definition
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.usage.models import UsageRollup

from .conftest import NOW, PBI_SECRETS, POWERBI_API, TOKEN_URL, WORKSPACE, fixture, sync, utc

pytestmark = pytest.mark.django_db
DATASETS = f"{POWERBI_API}/groups/{WORKSPACE}/datasets"
DATASET_ID = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
ROWS = f"{DATASETS}/{DATASET_ID}/tables/{{table}}/rows"


@pytest.fixture
def vendor():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fixture("powerbi", "entra_token"))
        yield rsps


def mock_new_dataset(rsps):
    rsps.get(DATASETS, json=fixture("powerbi", "datasets_in_group"))  # another dataset, not ours
    created = {**fixture("powerbi", "dataset_created"), "name": "WedSync executive AI metrics"}
    rsps.post(DATASETS, status=201, json=created)
    for table in ("ExecutiveMetrics", "FeatureUsage"):
        rsps.post(ROWS.format(table=table), status=200)


def calls(rsps, method, url_start):
    return [c for c in rsps.calls if c.request.method == method and c.request.url.startswith(url_start)]


def test_the_token_comes_from_entra_with_client_credentials(vendor, june, powerbi_config):
    mock_new_dataset(vendor)
    sync(powerbi_config())
    (token,) = calls(vendor, "POST", TOKEN_URL)
    form = {key: values[0] for key, values in parse_qs(token.request.body).items()}
    assert form == {"grant_type": "client_credentials", "scope": SCOPE, **PBI_SECRETS}
    assert token.request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    for call in calls(vendor, "POST", DATASETS):
        assert call.request.headers["Authorization"] == "Bearer " + fixture("powerbi", "entra_token")["access_token"]


def test_the_first_push_creates_the_dataset_once_and_stores_its_id(vendor, june, powerbi_config):
    config = powerbi_config()
    mock_new_dataset(vendor)
    result = sync(config)
    assert result.failed == 0 and result.delivered == 1
    (create,) = [c for c in calls(vendor, "POST", DATASETS) if "defaultRetentionPolicy" in c.request.url]
    assert create.request.url == f"{DATASETS}?defaultRetentionPolicy=basicFIFO"
    body = json.loads(create.request.body)
    assert body == dataset_definition("WedSync executive AI metrics")
    assert [t["name"] for t in body["tables"]] == ["ExecutiveMetrics", "FeatureUsage"]
    assert all(len(t["columns"]) <= 75 for t in body["tables"])
    destination = Destination.objects.get(config=config)
    assert (destination.vendor_object_id, destination.found_or_created) == (DATASET_ID, "created")
    (metrics_call,) = calls(vendor, "POST", ROWS.format(table="ExecutiveMetrics"))
    rows = json.loads(metrics_call.request.body)["rows"]
    friday = next(r for r in rows if r["period"] == "day" and r["period_start"] == "2026-06-12T00:00:00")
    assert friday["ai_cost_gbp"] == 1.7375 and friday["requests"] == 70 and friday["batch_id"]
    assert friday["organisation_slug"] == "acme" and friday["as_of"] == "2026-06-12T23:00:00Z"
    assert {r["organisation_slug"] for r in rows} == {"acme"}  # an organisation config sees only its own


def test_a_second_sync_creates_no_second_dataset_and_sends_no_row_twice(vendor, june, powerbi_config):
    config = powerbi_config()
    mock_new_dataset(vendor)
    sync(config)
    first_rows = len(json.loads(calls(vendor, "POST", ROWS.format(table="ExecutiveMetrics"))[0].request.body)["rows"])
    vendor.calls.reset()
    assert sync(config).queued == 0  # nothing changed: nothing sent
    assert not calls(vendor, "GET", DATASETS) and not calls(vendor, "POST", DATASETS)
    # late usage changes Saturday: only Saturday and June are sent again, to the stored dataset
    rollup = UsageRollup.objects.get(organisation=june[0], hour=utc(2026, 6, 13, 9))
    rollup.requests = 35
    rollup.save()
    sync(config, at=NOW + timedelta(minutes=1))
    assert not calls(vendor, "GET", DATASETS)
    assert not [c for c in calls(vendor, "POST", DATASETS) if "defaultRetentionPolicy" in c.request.url]
    (again,) = calls(vendor, "POST", ROWS.format(table="ExecutiveMetrics"))
    keys = sorted((r["period"], r["period_start"]) for r in json.loads(again.request.body)["rows"])
    assert keys == [("day", "2026-06-13T00:00:00"), ("month", "2026-06-01T00:00:00")] and first_rows == 3


def test_an_existing_dataset_is_found_by_name(vendor, june, powerbi_config):
    listing = fixture("powerbi", "datasets_in_group")
    listing["value"][0]["name"] = "Executive board"
    config = powerbi_config(dataset_name="Executive board")
    vendor.get(DATASETS, json=listing)
    for table in ("ExecutiveMetrics", "FeatureUsage"):
        vendor.post(ROWS.format(table=table), status=200)
    sync(config)
    assert not [c for c in calls(vendor, "POST", DATASETS) if "defaultRetentionPolicy" in c.request.url]
    assert Destination.objects.get(config=config).found_or_created == "found"


def test_a_retry_sends_only_the_batches_without_a_200(vendor, june, powerbi_config):
    config = powerbi_config()
    vendor.get(DATASETS, json=fixture("powerbi", "datasets_in_group"))
    vendor.post(DATASETS, status=201, json={**fixture("powerbi", "dataset_created"), "name": "x"})
    vendor.post(ROWS.format(table="ExecutiveMetrics"), status=200)
    vendor.post(ROWS.format(table="FeatureUsage"), status=503)  # the second request of the item fails
    result = sync(config)
    assert result.failed == 1
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.PENDING and PowerBIBatch.objects.count() == 1
    vendor.calls.reset()
    vendor.replace(responses.POST, ROWS.format(table="FeatureUsage"), status=200)
    outbox.replay([item])
    assert not calls(vendor, "POST", ROWS.format(table="ExecutiveMetrics"))  # had its 200: not sent again
    assert len(calls(vendor, "POST", ROWS.format(table="FeatureUsage"))) == 1
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and PowerBIBatch.objects.count() == 2


def test_no_request_carries_more_rows_than_the_limit(vendor, june, powerbi_config, settings):
    settings.BI_POWERBI_MAX_ROWS_PER_REQUEST = 2
    mock_new_dataset(vendor)
    sync(powerbi_config())
    sizes = [len(json.loads(c.request.body)["rows"]) for c in calls(vendor, "POST", f"{DATASETS}/{DATASET_ID}")]
    assert max(sizes) <= 2 and sum(sizes) == 3 + 5  # 3 metric rows, 5 feature rows (two items)


def test_a_429_is_retried_no_sooner_than_power_bi_asks(vendor, june, powerbi_config):
    mock_new_dataset(vendor)
    vendor.replace(responses.POST, ROWS.format(table="ExecutiveMetrics"), status=429,
                   headers={"Retry-After": "30"}, json=fixture("powerbi", "too_many_requests"))  # fmt: skip
    with freeze_time(NOW):
        sync(powerbi_config())
        item = FAMILY.retry_model.objects.get()
    assert (item.next_attempt_at - NOW).total_seconds() >= 30


def test_a_failed_gate_sends_nothing_and_raises_one_alert(vendor, june, powerbi_config):
    from alerts.models import Alert

    UsageRollup.objects.filter(hour=utc(2026, 6, 12, 10)).update(unpriced_requests=3)  # no USD→GBP rate yet
    config = powerbi_config()
    first, second = sync(config), sync(config)
    assert not vendor.calls  # not even a token
    assert first.skipped and second.skipped and not FAMILY.retry_model.objects.exists()
    log = FAMILY.sync_log_model.objects.filter(operation="gate").latest("started_at")
    assert log.outcome == SyncOutcome.SKIPPED and "rates" in log.error and "wait for a USD→GBP" in log.error
    destination = Destination.objects.get(config=config)
    assert destination.gate_passed is False and any("rates:" in f for f in destination.gate_failures)
    (alert,) = Alert.objects.all()
    assert alert.organisation == config.organisation and alert.occurrence_count == 2
    assert "data-quality gate" in alert.title


def test_the_push_goes_once_the_gate_passes_and_the_alert_resolves(vendor, june, powerbi_config):
    from alerts.models import Alert

    UsageRollup.objects.filter(hour=utc(2026, 6, 12, 10)).update(unpriced_requests=3)
    config = powerbi_config()
    sync(config)
    UsageRollup.objects.filter(hour=utc(2026, 6, 12, 10)).update(unpriced_requests=0, cost_gbp=Decimal("0.9875"))
    UsageRollup.objects.filter(hour=utc(2026, 6, 12, 10)).first().save()  # recomputed once the rate arrived
    mock_new_dataset(vendor)
    assert sync(config, at=NOW + timedelta(minutes=1)).delivered == 1
    assert Alert.objects.get().status == "resolved"
    assert (
        date(2026, 6, 12).isoformat()
        in calls(vendor, "POST", ROWS.format(table="ExecutiveMetrics"))[0].request.body.decode()
    )

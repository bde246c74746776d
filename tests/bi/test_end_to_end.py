"""End to end through the vendor sandbox: Entra's token endpoint and Power BI's push API (with its
limits), Tableau's sign-in and publish (which checks the file is a Hyper file), Looker's login and
datagroups — every tool gets the same figures, a second sync changes nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from freezegun import freeze_time

from bi import hyper
from bi.sandbox import published_hyper
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.usage.models import UsageRollup

from .conftest import LOOKER_SECRETS, NOW, PAT_SECRET, PBI_SECRETS, TENANT, WORKSPACE, sync, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def tools(sandbox, make_config, organisation):
    powerbi = make_config("bi", organisation, "powerbi", secrets=dict(PBI_SECRETS), settings={
        "base_url": sandbox.vendor_url("powerbi") + "/v1.0/myorg", "tenant_id": TENANT, "workspace_id": WORKSPACE,
        "token_url": f"{sandbox.url}/entra/{TENANT}/oauth2/v2.0/token"})  # fmt: skip
    tableau = make_config("bi", organisation, "tableau", secrets={"pat_secret": PAT_SECRET}, settings={
        "server_url": sandbox.vendor_url("tableau"), "api_version": "3.24", "site_content_url": "wedsync",
        "project_id": "p-1", "pat_name": "wedsync-export"})  # fmt: skip
    looker = make_config("bi", organisation, "looker", secrets=dict(LOOKER_SECRETS),
                         settings={"base_url": sandbox.vendor_url("looker")})  # fmt: skip
    return powerbi, tableau, looker


def state(sandbox, path):
    return requests.get(f"{sandbox.url}{path}", timeout=10).json()


def test_every_tool_receives_the_metrics_and_a_second_sync_sends_nothing_new(sandbox, june, tools, tmp_path):
    for config in tools:
        result = sync(config)
        assert (result.delivered, result.failed) == (1, 0), config.provider
    (dataset,) = state(sandbox, "/powerbi/__state")["datasets"]
    assert dataset["retention"] == "basicFIFO" and len(dataset["rows"]["ExecutiveMetrics"]) == 3
    extract = state(sandbox, "/tableau/__published/" + quote("WedSync executive AI metrics"))
    (tmp_path / "m.hyper").write_bytes(published_hyper(extract))
    assert len(hyper.read(tmp_path / "m.hyper")) == 3
    (group,) = state(sandbox, "/looker/__state")["datagroups"]
    assert group["triggered_at"] == group["stale_before"] == int(NOW.timestamp())

    sandbox.clear()
    for config in tools:
        assert sync(config, at=NOW + timedelta(minutes=1)).queued == 0
    assert sandbox.requests() == []  # nothing changed: no call at all, not even a token
    assert len(state(sandbox, "/powerbi/__state")["datasets"]) == 1


def test_late_usage_reaches_every_tool_once(sandbox, june, tools):
    for config in tools:
        sync(config)
    sandbox.clear()
    rollup = UsageRollup.objects.get(organisation=june[0], hour=utc(2026, 6, 13, 9))
    rollup.requests = 45
    rollup.save()
    later = NOW + timedelta(minutes=2)
    for config in tools:
        assert sync(config, at=later).delivered == 1
    (dataset,) = state(sandbox, "/powerbi/__state")["datasets"]
    rows = dataset["rows"]["ExecutiveMetrics"]
    assert len(rows) == 3 + 2  # Saturday and June appended once more, nothing else
    assert [r["requests"] for r in rows if r["period"] == "day" and r["period_start"].startswith("2026-06-13")] == [
        30,
        45,
    ]
    assert len(sandbox.requests("/tableau/api/3.24/sites/")) == 2  # both extracts republished
    assert len(sandbox.requests("/looker/api/4.0/datagroups/")) == 1


def test_the_sandbox_enforces_power_bi_limits(sandbox, june, tools, settings):
    settings.BI_POWERBI_MAX_ROWS_PER_REQUEST = 20_000  # pretend our own limit were wrong
    powerbi = tools[0]
    provider = powerbi.get_provider()
    with freeze_time(NOW):
        dataset = provider.ensure_dataset()
        client = provider.client()
        with pytest.raises(PermanentError, match="at most 10,000"):
            provider.post_rows(client, dataset, "ExecutiveMetrics", [{"requests": 1}] * 10_001)


def test_tableau_refuses_a_file_that_is_not_a_hyper_file(sandbox, tools, tmp_path):
    fake = tmp_path / "fake.hyper"
    fake.write_bytes(b"name,value\nx,1\n")
    with pytest.raises(PermanentError, match="not a Hyper file"):
        tools[1].get_provider().publish(fake, "not hyper")

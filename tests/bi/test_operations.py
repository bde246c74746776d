"""Operations: admin (metrics with gate status per organisation and platform, what each tool last
received, sync now, replay, staff inputs labelled as such), `manage.py sync bi`, beat schedules, the
refresh queued after each rollup, and platform-scoped configurations."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from bi import metrics
from bi.family import FAMILY
from bi.models import Destination, ExecutiveMetrics, StaffInput
from wedsync_integrations.usage.models import UsageRollup

from .conftest import NOW, POWERBI_API, TOKEN_URL, WORKSPACE, fixture, utc

pytestmark = pytest.mark.django_db
DATASETS = f"{POWERBI_API}/groups/{WORKSPACE}/datasets"


def admin_url(model, view, *args):
    return reverse(f"admin:bi_{model}_{view}", args=args)


@pytest.fixture
def vendor():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fixture("powerbi", "entra_token"))
        rsps.get(DATASETS, json=fixture("powerbi", "datasets_in_group"))
        rsps.post(DATASETS, status=201, json=fixture("powerbi", "dataset_created"))
        rsps.post(f"{DATASETS}/cfafbeb1-8037-4d0c-896e-a46fb27ff229/tables/ExecutiveMetrics/rows")
        rsps.post(f"{DATASETS}/cfafbeb1-8037-4d0c-896e-a46fb27ff229/tables/FeatureUsage/rows")
        yield rsps


def test_beat_refreshes_every_minute_and_drains_the_queue():
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="bi:")}
    assert {t.task for t in tasks.values()} == {"bi.refresh_and_sync", "integrations.drain_family"}
    assert all((t.interval.every, t.interval.period) == (1, "minutes") and t.enabled for t in tasks.values())


def test_a_rollup_run_queues_the_bi_refresh(organisation, monkeypatch, django_capture_on_commit_callbacks):
    from bi import tasks
    from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour
    from wedsync_integrations.usage.rollup import update_rollups

    queued = []
    monkeypatch.setattr(tasks.refresh_and_sync, "apply_async", lambda **kwargs: queued.append(kwargs))
    hour = utc(2026, 6, 13, 9)
    AIUsageRecord.objects.create(organisation=organisation, request_id="r1", occurred_at=hour, hour=hour,
                                 feature="email_template", provider="openai", model="gpt-4o-mini", latency_ms=900,
                                 cost_usd="0.01", cost_gbp="0.008", outcome="ok")  # fmt: skip
    RollupDirtyHour.objects.create(organisation=organisation, hour=hour)
    with django_capture_on_commit_callbacks(execute=True):
        update_rollups(now=NOW)
    assert queued == [{"queue": None}]
    with django_capture_on_commit_callbacks(execute=True):
        update_rollups(now=NOW)  # nothing dirty: nothing recomputed, no refresh
    assert len(queued) == 1


def test_the_metrics_admin_shows_organisations_and_the_platform_with_their_gate(admin_client, june):
    UsageRollup.objects.filter(organisation=june[1]).update(unpriced_requests=2)
    metrics.refresh(NOW)
    page = admin_client.get(admin_url("executivemetrics", "changelist")).content.decode()
    assert "Acme Photography" in page and "Bloom Florals" in page and "<b>Platform</b>" in page
    assert "passed" in page and "failed" in page and "rates: 2 request(s) still wait" in page
    assert "+2 awaiting a rate" in page
    row = ExecutiveMetrics.objects.get(scope_key="platform", period="month")
    detail = admin_client.get(admin_url("executivemetrics", "change", row.pk)).content.decode()
    assert "email_template" in detail  # the breakdown inline


def test_the_config_admin_shows_what_the_tool_received_and_syncs_now(admin_client, vendor, june, powerbi_config):
    config = powerbi_config()
    with freeze_time(NOW):
        response = admin_client.post(admin_url("biconfig", "changelist"),
                                     {"action": "sync_now", "_selected_action": [config.pk]}, follow=True)  # fmt: skip
    assert "queued 1, delivered 1, failed 0" in response.content.decode()
    page = admin_client.get(admin_url("biconfig", "change", config.pk)).content.decode()
    assert "cfafbeb1-8037-4d0c-896e-a46fb27ff229" in page and "created" in page  # the dataset
    assert "ExecutiveMetrics" in page and "batch_id" in page  # last received
    assert "31 Oct 2027" in page and "passed" in page
    assert "pbi-client-s3cret" not in page
    assert FAMILY.audit_model.objects.filter(action="sync_now").exists()
    retry_page = admin_client.get(admin_url("biretryitem", "changelist")).content.decode()
    assert 'value="replay_now"' in retry_page


def test_staff_inputs_are_labelled_and_reach_the_tools(admin_client, june):
    metrics.refresh(NOW)
    page = admin_client.get(admin_url("staffinput", "add")).content.decode()
    assert "not computed" in page and "STAFF INPUT" in page
    before = ExecutiveMetrics.objects.get(scope_key="platform", period="month").changed_at
    response = admin_client.post(admin_url("staffinput", "add"), {
        "month": "2026-06-01", "competitive_position": "leading", "feature_parity_percent": "92.5", "note": "Q2 review",
    })  # fmt: skip
    assert response.status_code == 302
    staff = StaffInput.objects.get()
    assert staff.scope_key == "platform" and staff.updated_by == "admin:admin"
    assert ExecutiveMetrics.objects.get(scope_key="platform", period="month").changed_at > before
    from bi.reporting import export_rows

    (row,) = export_rows(ExecutiveMetrics.objects.filter(scope_key="platform", period="month"))[0]
    assert row["staff_competitive_position"] == "leading" and row["staff_feature_parity_percent"] == 92.5


def test_staff_input_percent_is_checked(admin_client):
    response = admin_client.post(
        admin_url("staffinput", "add"), {"month": "2026-06-01", "feature_parity_percent": "140"}
    )
    assert response.status_code == 200 and not StaffInput.objects.exists()


def test_manage_py_sync_bi_pushes_each_configuration(vendor, june, powerbi_config):
    powerbi_config()
    out = StringIO()
    with freeze_time(NOW):
        call_command("sync", "bi", "--provider", "powerbi", stdout=out)
    assert "acme · powerbi: ok: queued 1, delivered 1" in out.getvalue()


def test_a_platform_configuration_receives_every_organisation(vendor, june, powerbi_config):
    config = powerbi_config(scope="platform")
    with freeze_time(NOW):
        FAMILY.sync_handler(config, now=NOW)
    call = next(c for c in vendor.calls if c.request.url.endswith("ExecutiveMetrics/rows"))
    slugs = {row["organisation_slug"] for row in json.loads(call.request.body)["rows"]}
    assert slugs == {"acme", "bloom", "platform"}


def test_one_tool_failing_never_blocks_another(june, powerbi_config, looker_config):
    powerbi, looker = powerbi_config(), looker_config()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, freeze_time(NOW):
        rsps.post(TOKEN_URL, status=503)  # Entra is down
        rsps.post("https://wedsync.cloud.looker.com/api/4.0/login", json=fixture("looker", "login"))
        rsps.get("https://wedsync.cloud.looker.com/api/4.0/datagroups", json=fixture("looker", "datagroups"))
        rsps.patch("https://wedsync.cloud.looker.com/api/4.0/datagroups/42", json={})
        assert FAMILY.sync_handler(powerbi, now=NOW).failed == 1
        assert FAMILY.sync_handler(looker, now=NOW).delivered == 1
    assert Destination.objects.get(config=looker).last_received["datagroup_id"] == "42"
    assert ExecutiveMetrics.objects.filter(period_start=date(2026, 6, 13)).exists()
    assert NOW - timedelta(minutes=1) < Destination.objects.get(config=powerbi).gate_checked_at <= NOW


def test_the_demo_points_every_bi_tool_at_the_sandbox(db):
    from pathlib import Path

    from bi.models import BIConfig, StaffInput
    from wedsync_integrations.core import demo_data
    from wedsync_integrations.integrations import config_io

    text = (Path(__file__).resolve().parents[2] / "demo" / "integrations.json").read_text()
    config_io.apply(config_io.load(text.replace("${SANDBOX_URL}", "http://127.0.0.1:8900")))
    platform = {c.provider: c for c in BIConfig.objects.filter(organisation__slug="wedsync")}
    assert set(platform) == {"powerbi", "tableau", "looker"}
    assert all(c.settings["scope"] == "platform" for c in platform.values())
    assert BIConfig.objects.get(organisation__slug="cotswold-lens").provider == "powerbi"
    assert demo_data.ensure_staff_inputs(NOW.date()) == 1 and StaffInput.objects.get().organisation is None

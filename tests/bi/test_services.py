"""On PostgreSQL + Redis with a real Celery worker (CI's second pass):

- a finished hour reaches Power BI, Tableau and Looker (the sandbox) within a minute of its rollup:
  the rollup's commit queues the BI refresh, the worker refreshes and fans out one push per tool;
  the lag from the rollup's commit to each vendor request is measured and printed
- `manage.py bi grant_readonly ROLE` makes a role that can read the reporting schema and nothing else
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.services.conftest import SERVICES, database_url
from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour
from wedsync_integrations.usage.rollup import update_rollups

from .conftest import LOOKER_SECRETS, PAT_SECRET, PBI_SECRETS, TENANT, WORKSPACE

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]
LAG_GOAL_SECONDS = 60


def usage_in_the_hour_that_just_finished(organisation, count=25) -> datetime:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    AIUsageRecord.objects.bulk_create([
        AIUsageRecord(organisation=organisation, request_id=f"lag-{n}", occurred_at=hour + timedelta(seconds=60 * n),
                      hour=hour, feature=("email_template", "content_writing")[n % 2], provider="openai",
                      model="gpt-4o-mini", latency_ms=800 + n, cost_usd=Decimal("0.010000"),
                      cost_gbp=Decimal("0.007900"), usd_gbp_rate=Decimal("0.79"), outcome="ok", quality_score=0.9)
        for n in range(count)
    ])  # fmt: skip
    RollupDirtyHour.objects.create(organisation=organisation, hour=hour)
    return hour


@pytest.mark.worker
def test_a_finished_hour_reaches_every_bi_tool_within_a_minute(
    start_worker, worker_queue, settings, sandbox, make_config, organisation
):
    settings.BI_TASK_QUEUE = worker_queue  # where this process queues the refresh
    make_config("bi", organisation, "powerbi", secrets=dict(PBI_SECRETS), settings={
        "base_url": sandbox.vendor_url("powerbi") + "/v1.0/myorg", "tenant_id": TENANT, "workspace_id": WORKSPACE,
        "token_url": f"{sandbox.url}/entra/{TENANT}/oauth2/v2.0/token"})  # fmt: skip
    make_config("bi", organisation, "tableau", secrets={"pat_secret": PAT_SECRET}, settings={
        "server_url": sandbox.vendor_url("tableau"), "project_id": "p-1", "pat_name": "wedsync-export"})  # fmt: skip
    make_config("bi", organisation, "looker", secrets=dict(LOOKER_SECRETS),
                settings={"base_url": sandbox.vendor_url("looker")})  # fmt: skip
    start_worker(pool="threads", BI_TASK_QUEUE=worker_queue).wait_ready()
    usage_in_the_hour_that_just_finished(organisation)

    stats = update_rollups()  # what beat runs every minute; its commit queues the BI refresh
    rolled_up = datetime.now(UTC)
    assert stats.hours == 1

    arrivals = {
        "Power BI rows": sandbox.wait_for("/powerbi/v1.0/myorg/groups/", count=4, timeout=LAG_GOAL_SECONDS)[-1],
        "Tableau publish": sandbox.wait_for("/tableau/api/3.24/sites/", count=2, timeout=LAG_GOAL_SECONDS)[-1],
        "Looker datagroup": sandbox.wait_for("/looker/api/4.0/datagroups/", count=1, timeout=LAG_GOAL_SECONDS)[-1],
    }
    lags = {tool: (request.received_at - rolled_up).total_seconds() for tool, request in arrivals.items()}
    print("\nBI lag from the rollup's commit to the vendor request: "
          + ", ".join(f"{tool} {lag:.2f} s" for tool, lag in lags.items()))  # fmt: skip
    assert max(lags.values()) < LAG_GOAL_SECONDS
    rows = [r for r in sandbox.requests("/powerbi/") if r.path.endswith("/ExecutiveMetrics/rows")]
    day = next(row for row in rows[0].json()["rows"] if row["period"] == "day")
    assert day["requests"] == 25 and day["organisation_slug"] == organisation.slug


def test_grant_readonly_makes_a_role_that_reads_the_reporting_schema_only(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    role = f"looker_test_{uuid.uuid4().hex[:8]}"
    call_command("bi", "grant_readonly", role)
    url = database_url().replace("postgres://", "postgresql://", 1).replace("postgres@", f"{role}@", 1)
    try:
        with psycopg.connect(url, autocommit=True) as looker:
            looker.execute("SELECT COUNT(*) FROM reporting.executive_metrics").fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                looker.execute("SELECT COUNT(*) FROM usage_aiusagerecord")
            with pytest.raises((psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
                looker.execute("DELETE FROM reporting.executive_metrics")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')

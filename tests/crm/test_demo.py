"""The demo: its CRM integrations point at the sandbox, months close at once, and the first run
shows last month's value report in Tave, the HoneyBook zap's catch hook and Light Blue."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import requests

from crm.monthly import last_closed_month
from wedsync_integrations.calendar import Month
from wedsync_integrations.core import demo_data
from wedsync_integrations.core.management.commands import run_demo
from wedsync_integrations.integrations.tasks import sync_family
from wedsync_integrations.tenants.models import Organisation

pytestmark = pytest.mark.django_db


def test_the_first_demo_run_shows_last_months_report_in_all_three(sandbox, settings, usage, eager_celery):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.CRM_MONTH_CLOSE_DAYS = 0  # as run_demo sets for its processes
    run_demo.Command(stdout=io.StringIO())._apply_demo_integrations(sandbox.url)
    month = last_closed_month(datetime.now(UTC))
    for slug in ("cotswold-lens", "willow-barn"):
        usage(Organisation.objects.get(slug=slug), month, requests=120)

    assert sync_family("crm") == 3  # beat's daily run (due at once on a new installation)

    notes = requests.get(sandbox.vendor_url("tave") + "/note", timeout=5,
                         headers={"X-API-KEY": "demo-tave-api-key-cotswold-lens"}).json()["items"]  # fmt: skip
    assert [note["date"] for note in notes] == [month.last_day.isoformat()]
    assert f"(ref wedsync:cotswold-lens:{month})" in notes[0]["contentHtml"]
    (zap,) = sandbox.requests("/zapier/hooks/catch/100001/willowbarn/")
    body = zap.json()
    assert (body["organisation"], body["period"], body["requests"]) == ("willow-barn", str(month), 120)
    assert zap.headers["webhook-signature"].startswith("v1,")
    (inbox,) = sandbox.requests("/lightblue/api.php")
    assert inbox.form()["ID"] == f"wedsync:cotswold-lens:{month}" and inbox.text() and inbox.status == 200


def test_run_demo_closes_months_at_once_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("CRM_MONTH_CLOSE_DAYS", raising=False)
    monkeypatch.setattr(run_demo.tempfile, "tempdir", str(tmp_path))
    command = run_demo.Command(stdout=io.StringIO())
    assert command._child_env("http://127.0.0.1:8900", "http://127.0.0.1:8000")["CRM_MONTH_CLOSE_DAYS"] == "0"
    monkeypatch.setenv("CRM_MONTH_CLOSE_DAYS", "3")
    assert command._child_env("http://127.0.0.1:8900", "http://127.0.0.1:8000")["CRM_MONTH_CLOSE_DAYS"] == "3"


@pytest.mark.parametrize(
    "now, days",
    [
        (datetime(2026, 12, 7, 3, tzinfo=UTC), 37),  # back to 1 November
        (datetime(2026, 12, 30, 12, tzinfo=UTC), 60),  # back to 1 November, not only 30 days
        (datetime(2026, 3, 2, 12, tzinfo=UTC), 30),  # 1 February is less than 30 days back
    ],
)
def test_the_demo_seeds_the_whole_of_last_month(now, days):
    assert demo_data.default_days(now) == days
    first = Month.containing(now).previous.bounds()[0]
    assert now.replace(minute=0, second=0, microsecond=0) - demo_data.timedelta(days=days) <= first

"""The README's first command: seed data of the promised size and shape, and the whole stack
(web + worker + beat + sandbox) running on the embedded default."""

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from wedsync_integrations import calendar
from wedsync_integrations.core import demo_data
from wedsync_integrations.core.management.commands import run_demo
from wedsync_integrations.usage import validation

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_thirty_days_of_demo_usage_has_the_promised_volume_and_shape():
    now = datetime(2026, 6, 20, 12, tzinfo=UTC)  # a peak-season Saturday
    demo_data.ensure_organisations()
    import random

    rng = random.Random(7)
    rates = defaultdict(lambda: demo_data.Decimal("0.79"))
    per_hour: dict[str, list[int]] = defaultdict(list)
    total = 0
    start = now.replace(minute=0) - demo_data.timedelta(days=30)
    from wedsync_integrations.tenants.models import Organisation

    for demo in demo_data.ORGANISATIONS:
        org = Organisation.objects.get(slug=demo.slug)
        counts: dict = defaultdict(int)
        for record in demo_data.usage_records(org, demo, start, 30 * 24, rates, [], rng):
            counts[record.hour] += 1
            total += 1
        for hour, count in counts.items():
            local = calendar.london(hour)
            if 10 <= local.hour < 17:
                per_hour["weekend" if calendar.is_wedding_day_mode(hour) else "weekday"].append(count)
    assert total >= 100_000
    weekday = sum(per_hour["weekday"]) / len(per_hour["weekday"])
    weekend = sum(per_hour["weekend"]) / len(per_hour["weekend"])
    assert weekend > 1.3 * weekday  # the wedding-day window is busier


def test_peak_season_is_busier_than_off_season():
    demo = demo_data.ORGANISATIONS[0]
    june = demo_data._hour_level(demo, datetime(2026, 6, 16, 10, tzinfo=UTC))  # 11:00 BST
    january = demo_data._hour_level(demo, datetime(2026, 1, 13, 11, tzinfo=UTC))
    assert june == pytest.approx(2 * january)  # peak 1.6 vs off-season 0.8


@pytest.mark.slow
def test_run_demo_runs_web_worker_beat_and_sandbox_end_to_end(tmp_path):
    """`manage.py run_demo --smoke`: ingest through the web server, an alert delivered by the
    worker to the sandbox's Slack/PagerDuty/Twilio, beat sending its tasks, /readyz green."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE"}
    }
    scratch = tmp_path / "tmp"  # where the web workers' metric files go while it runs
    scratch.mkdir()
    env.update(
        WEDSYNC_VAR_DIR=str(tmp_path / "var"), DJANGO_ENV="development", LOG_LEVEL="WARNING", TMPDIR=str(scratch)
    )
    cmd = [sys.executable, "manage.py", "run_demo", "--smoke", "120", "--days", "1",
           "--port", str(_free_port()), "--sandbox-port", str(_free_port())]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for check in ("web ingests usage", "worker delivers an alert", "beat runs the scheduled rollup", "readyz"):
        assert f"[ok] {check}" in output
    assert "user: admin   password:" in output
    assert "Raise an alert: OUTBOUND_URL_ALLOWLIST=127.0.0.1,localhost .venv/bin/python manage.py alerts test" in output
    assert [p.name for p in scratch.iterdir() if p.name.startswith("wsi-demo-prom-")] == []  # removed on stop


def test_the_banners_usage_example_is_a_valid_wire_record():
    """The record the banner tells a new user to send is one the ingest API accepts."""
    record = demo_data.example_record("try-0123456789ab")
    clean = validation.clean_record(record, now=datetime.now(UTC), max_future=timedelta(seconds=0))
    assert clean["request_id"] == "try-0123456789ab"
    assert clean["cost_usd"] == Decimal("0.000266")
    assert record["occurred_at"].endswith("Z")


@pytest.mark.django_db
def test_a_stopped_demo_integration_is_reported_when_the_demo_starts(settings):
    """A demo configuration stopped earlier (say by a command run without the sandbox allowed)
    stays stopped on the next run, and the runner says so instead of showing only a summary."""
    from alerts.models import AlertConfig
    from wedsync_integrations.integrations.models import ConfigStatus

    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "localhost"]
    out = io.StringIO()
    command = run_demo.Command(stdout=out)
    command._apply_demo_integrations("http://127.0.0.1:8900")
    assert "note:" not in out.getvalue()
    slack = AlertConfig.objects.get(organisation__slug="cotswold-lens", provider="slack")
    slack.stop("outbound URL for '127.0.0.1' must use https")

    command._apply_demo_integrations("http://127.0.0.1:8900")

    printed = out.getvalue()
    demo = json.loads(run_demo.DEMO_CONFIG.read_text())
    entries = sum(1 + len(org["integrations"]) for org in demo["organisations"])  # organisations and integrations
    assert f"{entries} unchanged" in printed
    assert (
        "note: alerts/slack for cotswold-lens is stopped (outbound URL for '127.0.0.1' must use https); "
        "once its credentials are right, resume it in admin to send what it holds"
    ) in printed
    slack.refresh_from_db()
    assert slack.status == ConfigStatus.STOPPED


def test_the_readmes_usage_record_is_accepted_as_written():
    """The wire-format example in the README's "two commands" section stays in step with ingest."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("A usage record, as `POST /api/v1/usage/` takes it", 1)[1]
    body = json.loads(example.split("```json", 1)[1].split("```", 1)[0])
    after = datetime(2026, 6, 14, tzinfo=UTC)
    (record,) = body["records"]
    clean = validation.clean_record(record, now=after, max_future=timedelta(seconds=0))
    assert clean["request_id"] == "req-0001"
    assert set(validation.REQUIRED_FIELDS) <= set(record)
    described = example.split("```", 3)[2].split("\n\n", 2)[1]  # the paragraph after the example
    assert [name for name in validation.WIRE_FIELDS if f"`{name}`" not in described] == []


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["mark_all_dirty", "update_rollups"])
def test_a_first_run_interrupted_after_seeding_still_gets_every_rollup(monkeypatch, step):
    """Ctrl-C while the first run builds rollups: a later run skips seeding once records exist,
    so every stored hour must already be marked dirty for beat's rollup task to finish it."""
    from django.core.management import call_command

    from wedsync_integrations.usage import rollup
    from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour, UsageRollup

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rollup, step, interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_command("seed_demo", days=1, stdout=io.StringIO())
    monkeypatch.undo()
    stored = set(AIUsageRecord.objects.values_list("organisation_id", "hour").distinct())
    assert set(RollupDirtyHour.objects.values_list("organisation_id", "hour")) == stored

    rollup.update_rollups()  # what beat runs every minute

    assert set(UsageRollup.objects.values_list("organisation_id", "hour").distinct()) == stored


def test_ctrl_c_before_the_demo_runs_ends_with_a_sentence_not_a_traceback(monkeypatch, tmp_path, settings):
    from django.core.management import CommandError, call_command

    settings.OUTBOUND_URL_ALLOWLIST = []  # the runner widens it; the fixture puts it back afterwards

    def interrupted(self, days):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_demo.Command, "_prepare", interrupted)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(CommandError, match=r"^interrupted: everything the demo started is stopped; `make demo`"):
        call_command("run_demo", port=_free_port(), sandbox_port=_free_port(), stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == []  # the metrics directory made for the children is gone too

"""When reports go out: every closed month since the first month, once, in order, only when its
usage is final; `manage.py sync crm [--org] [--provider]`; beat daily; one CRM failing never
blocks another."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import responses
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from crm import sync
from crm.models import CRMReport
from crm.monthly import last_closed_month
from crm.sync import sync_crm
from tests.fixtures import load
from wedsync_integrations.calendar import Month
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.usage.models import RollupDirtyHour

from .conftest import HOOK_URL, JUNE, LIGHT_BLUE_API, NOW, TAVE_API

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")


@pytest.mark.parametrize(
    "now, closed",
    [
        (datetime(2026, 7, 2, 22, 59, tzinfo=UTC), Month(2026, 5)),  # 23:59 BST on 2 July
        (datetime(2026, 7, 2, 23, 0, tzinfo=UTC), Month(2026, 6)),  # 00:00 BST on 3 July: June has closed
        (datetime(2027, 1, 3, 0, 0, tzinfo=UTC), Month(2026, 12)),  # GMT, over the year end
    ],
)
def test_a_month_closes_the_configured_days_after_it_ends_in_london(now, closed):
    assert last_closed_month(now) == closed


def test_the_close_delay_is_a_setting(settings):
    settings.CRM_MONTH_CLOSE_DAYS = 0
    assert last_closed_month(datetime(2026, 7, 1, 0, 0, tzinfo=UTC)) == Month(2026, 6)


def test_a_new_configuration_starts_with_the_month_before_it_was_made(organisation, make_config):
    with freeze_time(datetime(2026, 7, 20, 12, tzinfo=UTC)):
        config = make_config("crm", organisation, "honeybook", secrets={"hook_url": HOOK_URL})
    assert config.get_provider().first_month() == JUNE


def test_every_closed_month_since_the_first_is_sent_once_in_order(organisation, usage, lightblue_config):
    config = lightblue_config(first_month="2026-03")
    for month, requests in ((Month(2026, 3), 10), (Month(2026, 5), 50), (Month(2026, 6), 60)):
        usage(organisation, month, requests=requests)
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body="0")
        result = sync_crm(config, now=NOW)
        ids = [parse_qs(call.request.body)["ID"] for call in api.calls]
    assert (result.queued, result.delivered) == (3, 3)  # April had no AI use: recorded, not sent
    assert ids == [[f"wedsync:acme:2026-0{m}"] for m in (3, 5, 6)]
    assert list(CRMReport.objects.order_by("period").values_list("period", "item__state")) == [
        (Month(2026, 3).first_day, RetryState.SUCCEEDED),
        (Month(2026, 4).first_day, None),
        (Month(2026, 5).first_day, RetryState.SUCCEEDED),
        (JUNE.first_day, RetryState.SUCCEEDED),
    ]
    with responses.RequestsMock(), freeze_time(NOW):
        assert sync_crm(config, now=NOW + timedelta(days=1)).queued == 0  # nothing twice


def test_a_month_whose_usage_is_still_rolling_up_waits_and_holds_back_later_months(
    organisation, usage, lightblue_config, monkeypatch
):
    from wedsync_integrations.usage import rollup

    config = lightblue_config(first_month="2026-05")
    usage(organisation, Month(2026, 5), requests=5)
    usage(organisation, JUNE, requests=6)
    RollupDirtyHour.objects.create(organisation=organisation, hour=datetime(2026, 5, 20, 10, tzinfo=UTC))
    monkeypatch.setattr(rollup, "update_rollups", lambda now=None: None)  # the rollup engine is busy elsewhere
    with responses.RequestsMock(), freeze_time(NOW):
        result = sync_crm(config, now=NOW)
    assert (result.queued, result.skipped) == (0, 2)
    log = FAMILY.sync_log_model.objects.get()
    assert log.outcome == SyncOutcome.SKIPPED and "2026-05 is not final yet" in log.error
    RollupDirtyHour.objects.all().delete()
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body="0")
        assert sync_crm(config, now=NOW).delivered == 2


def test_two_racing_syncs_queue_a_month_once(organisation, usage, lightblue_config):
    config = lightblue_config()
    usage(organisation, JUNE, requests=5)
    provider = config.get_provider()
    with freeze_time(NOW):
        assert sync.queue_months(config, provider, NOW) == (1, 0)
        assert sync.queue_months(config, provider, NOW) == (0, 0)
        from crm import value

        report = value.build_report(organisation, JUNE)  # a run that computed it before the other committed
        assert not sync.queue(config, kind="month", report_id=report.report_id, period=JUNE.first_day, figures={},
                              payload=provider.report_payload(report), operation="report")  # fmt: skip
    assert FAMILY.retry_model.objects.count() == 1


@pytest.fixture
def three_crms(organisation, usage, tave_config, honeybook_config, lightblue_config):
    usage(organisation, JUNE, requests=100)
    return tave_config(), honeybook_config(), lightblue_config()


def test_one_crm_failing_never_blocks_another(three_crms):
    out, err = io.StringIO(), io.StringIO()
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(f"{TAVE_API}/note", status=503, json={"title": "Service Unavailable"})
        api.post(HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        api.post(LIGHT_BLUE_API, body="0")
        with pytest.raises(CommandError, match="1 of 3 crm sync"):
            call_command("sync", "crm", stdout=out, stderr=err)
    assert "acme · honeybook: ok: queued 1, delivered 1" in out.getvalue()
    assert "acme · lightblue: ok: queued 1, delivered 1" in out.getvalue()
    assert "acme · tave: FAILED: queued 1, delivered 0, failed 1" in err.getvalue()
    states = dict(CRMReport.objects.values_list("provider", "item__state"))
    assert states == {"tave": RetryState.PENDING, "honeybook": RetryState.SUCCEEDED, "lightblue": RetryState.SUCCEEDED}


def test_sync_command_takes_an_organisation_and_a_provider(three_crms, make_organisation):
    make_organisation(slug="other")
    out = io.StringIO()
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body="0")
        call_command("sync", "crm", "--org", "acme", "--provider", "lightblue", stdout=out)
        assert len(api.calls) == 1
    assert "1 of 1 configuration(s) synced" in out.getvalue()
    with pytest.raises(CommandError, match="unknown provider 'salesforce' for family 'crm'"):
        call_command("sync", "crm", "--provider", "salesforce")


def test_beat_sends_due_reports_daily_and_drains_every_minute():
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__startswith="crm:")}
    daily = tasks["crm: send closed months' value reports and wedding notes"]
    assert (daily.task, daily.args, daily.interval.every, daily.interval.period) == (
        "integrations.sync_family", '["crm"]', 1, "days",
    )  # fmt: skip
    drain = tasks["crm: drain retry queue"]
    assert (drain.task, drain.interval.every, drain.interval.period) == ("integrations.drain_family", 1, "minutes")

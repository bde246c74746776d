"""Routing: the same alert goes to different channels on a Tuesday, a Friday evening and a
Saturday, judged in London time across both DST changes; weddings and mute windows."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time

from alerts.lifecycle import raise_alert
from alerts.models import MuteWindow, RoutingPolicy
from alerts.routing import PolicyValues, decide
from tests.alerts.conftest import SLACK_WEBHOOK, TWILIO_SID, calls_to

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 2026: BST starts Sun 29 March 01:00 UTC, ends Sun 25 October 01:00 UTC.
TUESDAY_GMT = utc(2026, 3, 24, 10, 0)  # Tue 10:00 GMT
FRIDAY_EVENING_GMT = utc(2026, 3, 27, 18, 30)  # Fri 18:30 GMT
SATURDAY_GMT = utc(2026, 3, 28, 14, 0)  # Sat 14:00 GMT, the night before the clocks go forward
TUESDAY_BST = utc(2026, 10, 20, 9, 0)  # Tue 10:00 BST
FRIDAY_EVENING_BST = utc(2026, 10, 23, 17, 30)  # Fri 18:30 BST
SATURDAY_BST = utc(2026, 10, 24, 13, 0)  # Sat 14:00 BST, the night before the clocks go back


@pytest.mark.parametrize(
    ("instant", "effective", "channels"),
    [
        (TUESDAY_GMT, "medium", ["slack", "email"]),
        (FRIDAY_EVENING_GMT, "high", ["slack", "email", "sms"]),
        (SATURDAY_GMT, "high", ["slack", "email", "sms", "pagerduty"]),
        (TUESDAY_BST, "medium", ["slack", "email"]),
        (FRIDAY_EVENING_BST, "high", ["slack", "email", "sms"]),
        (SATURDAY_BST, "high", ["slack", "email", "sms", "pagerduty"]),
    ],
    ids=["tue-gmt", "fri-evening-gmt", "sat-gmt", "tue-bst", "fri-evening-bst", "sat-bst"],
)
def test_the_same_medium_alert_reaches_different_channels_by_day(
    instant, effective, channels, organisation, channels_fixture, vendors, deliver_all, mailoutbox
):
    with freeze_time(instant):
        result = raise_alert(organisation=organisation, title="AI timeline builder slow", severity="medium")
        deliver_all()
    alert = result.alert
    assert alert.effective_severity == effective
    assert alert.routing["channels"] == channels
    # what the vendors actually received
    assert bool(calls_to(vendors, SLACK_WEBHOOK)) == ("slack" in channels)
    assert bool(mailoutbox) == ("email" in channels)
    assert bool(calls_to(vendors, f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}")) == ("sms" in channels)
    assert bool(calls_to(vendors, "https://events.pagerduty.com")) == ("pagerduty" in channels)


@pytest.fixture
def channels_fixture(make_channels, organisation):
    # the webhook subscribes to high/critical only; keep this test about the product table
    return make_channels(organisation, only={"slack", "email", "sms", "pagerduty"})


@pytest.mark.parametrize(
    ("instant", "on"),
    [
        (utc(2026, 10, 23, 16, 59), False),  # Fri 17:59 BST
        (utc(2026, 10, 23, 17, 0), True),  # Fri 18:00 BST (a UTC-clock rule would say 17:00: off)
        (utc(2026, 10, 25, 22, 59), True),  # Sun 22:59 GMT, the day the clocks went back
        (utc(2026, 10, 25, 23, 0), False),  # Sun 23:00 GMT
        (utc(2026, 3, 27, 17, 59), False),  # Fri 17:59 GMT
        (utc(2026, 3, 27, 18, 0), True),  # Fri 18:00 GMT
        (utc(2026, 3, 29, 21, 59), True),  # Sun 22:59 BST, the day the clocks went forward
        (utc(2026, 3, 29, 22, 0), False),  # Sun 23:00 BST
    ],
)
def test_wedding_day_mode_edges_raise_severity_by_london_wall_clock(instant, on):
    decision = decide("low", at=instant)
    assert decision.wedding_day_mode is on
    assert decision.effective_severity == ("medium" if on else "low")


def test_saturday_after_midnight_utc_is_still_friday_evening_in_winter_but_saturday_in_summer():
    # 23:30 UTC on a Friday in BST is 00:30 Saturday in London: Saturday protection applies.
    summer = decide("low", at=utc(2026, 6, 12, 23, 30))
    assert summer.saturday is True and set(summer.channels) >= {"sms", "pagerduty"}
    winter = decide("low", at=utc(2026, 12, 11, 23, 30))  # 23:30 GMT Friday: still Friday
    assert winter.saturday is False and winter.channels == ["slack", "email"]


def test_own_weddings_today_make_every_alert_critical():
    decision = decide("low", at=TUESDAY_BST, own_weddings_today=3)
    assert decision.effective_severity == "critical"
    assert decision.channels == ["slack", "email", "sms", "pagerduty"]
    assert any("own weddings" in reason for reason in decision.reasons)


def test_saturday_with_weddings_is_at_least_high_and_always_pages():
    no_weddings = decide("low", at=SATURDAY_BST, policy=PolicyValues(wedding_day_raises_severity=False))
    assert no_weddings.effective_severity == "low"
    assert no_weddings.channels == ["slack", "sms", "pagerduty"]
    with_weddings = decide(
        "low", at=SATURDAY_BST, platform_weddings_today=23, policy=PolicyValues(wedding_day_raises_severity=False)
    )
    assert with_weddings.effective_severity == "high"
    assert with_weddings.channels == ["slack", "email", "sms", "pagerduty"]


def test_raise_alert_uses_the_organisations_weddings_and_venues(organisation, make_wedding, channels_fixture, vendors):
    make_wedding(organisation, date(2026, 10, 20), venue="Kew Gardens")
    make_wedding(organisation, date(2026, 10, 20), venue="Hampton Court")
    with freeze_time(TUESDAY_BST):
        alert = raise_alert(organisation=organisation, title="Gallery AI failing", severity="low").alert
    assert alert.effective_severity == "critical"
    # every piece of wedding context the product asks an alert to carry, judged in London time
    assert alert.context == {
        "london_time": "2026-10-20T10:00:00+01:00",
        "date": "2026-10-20",
        "season": "shoulder",
        "wedding_day_mode": False,
        "saturday": False,
        "peak_ceremony_hours": True,
        "weddings_today": 2,
        "platform_weddings_today": 2,
        "venues": ["Hampton Court", "Kew Gardens"],
        "venues_total": 2,
        "regions": ["London"],
        "vendor_types": ["photographer"],
        "organisation": "acme",
    }


def test_a_policy_edit_after_raising_does_not_change_the_alert(organisation, channels_fixture, vendors):
    with freeze_time(TUESDAY_BST):
        alert = raise_alert(organisation=organisation, title="Slow", severity="high").alert
    RoutingPolicy.objects.create(
        organisation=organisation,
        channels_by_severity={"low": [], "medium": [], "high": ["slack"], "critical": ["slack"]},
        escalation_delay_default=timedelta(minutes=60),
    )
    alert.refresh_from_db()
    assert alert.routing["channels"] == ["slack", "email", "sms"]
    assert alert.routing["escalation_delay_default_s"] == 900


def test_the_policys_repeat_interval_decides_when_a_still_firing_alert_is_sent_again(
    organisation, channels_fixture, vendors, deliver_all
):
    RoutingPolicy.objects.create(organisation=organisation, repeat_interval=timedelta(minutes=10))
    with freeze_time(TUESDAY_BST) as clock:
        for minutes in (0, 9, 10, 15, 21):
            clock.move_to(TUESDAY_BST + timedelta(minutes=minutes))
            raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="slow")
            deliver_all()
    headers = [json.loads(c.request.body)["blocks"][0]["text"]["text"] for c in calls_to(vendors, SLACK_WEBHOOK)]
    # sent at 0, again at 10 (not 9) and at 21 (not 15): never more often than every 10 minutes
    assert headers == ["LOW: AI slow", "Still firing: LOW: AI slow", "Still firing: LOW: AI slow"]


def test_organisation_policy_changes_channels_and_delays(organisation, channels_fixture, vendors):
    RoutingPolicy.objects.create(
        organisation=organisation,
        channels_by_severity={"low": ["email"], "medium": ["email"], "high": ["email", "sms"], "critical": ["sms"]},
        escalation_delay_default=timedelta(minutes=30),
    )
    with freeze_time(TUESDAY_BST):
        alert = raise_alert(organisation=organisation, title="Slow", severity="high").alert
    assert alert.routing["channels"] == ["email", "sms"]
    assert alert.next_escalation_at == TUESDAY_BST + timedelta(minutes=30)


def test_mute_window_withholds_notifications_but_never_a_critical_saturday_alert(
    organisation, channels_fixture, vendors, deliver_all
):
    for start in (TUESDAY_BST, SATURDAY_BST):
        MuteWindow.objects.create(
            organisation=organisation,
            starts_at=start - timedelta(hours=1),
            ends_at=start + timedelta(hours=1),
            reason="planned AI provider migration",
        )
    with freeze_time(TUESDAY_BST):
        muted = raise_alert(organisation=organisation, title="Expected errors", severity="high").alert
        deliver_all()
    assert muted.routing["muted_by"].endswith("planned AI provider migration")
    assert muted.next_escalation_at is None
    assert len(vendors.calls) == 0
    with freeze_time(SATURDAY_BST):
        loud = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
        deliver_all()
    assert loud.routing["muted_by"] is None
    assert "mute window ignored: critical alert on a Saturday" in loud.routing["reasons"]
    assert calls_to(vendors, "https://events.pagerduty.com")


def test_policy_validation_names_the_problem(organisation):
    from django.core.exceptions import ValidationError

    policy = RoutingPolicy(organisation=organisation, channels_by_severity={"low": ["telegram"]})
    with pytest.raises(ValidationError) as info:
        policy.full_clean()
    message = str(info.value)
    assert "missing severities: medium, high, critical" in message
    assert "each value must be a list of: email, pagerduty, slack, sms, webhook" in message


def test_an_alert_still_firing_when_its_mute_window_closes_is_notified_and_escalates(
    organisation, channels_fixture, vendors, deliver_all, mailoutbox
):
    window = MuteWindow.objects.create(
        organisation=organisation,
        starts_at=TUESDAY_BST - timedelta(hours=1),
        ends_at=TUESDAY_BST + timedelta(minutes=30),
        reason="planned AI provider migration",
    )
    with freeze_time(TUESDAY_BST) as clock:
        alert = raise_alert(organisation=organisation, title="Errors", severity="high", dedup_key="errors").alert
        clock.tick(timedelta(minutes=20))  # still inside the window: still silent
        assert not raise_alert(organisation=organisation, title="Errors", severity="high", dedup_key="errors").notified
        deliver_all()
        assert len(vendors.calls) == 0 and mailoutbox == []
        clock.move_to(window.ends_at + timedelta(minutes=1))  # the window has closed, the alert still fires
        after = raise_alert(organisation=organisation, title="Errors", severity="high", dedup_key="errors")
        deliver_all()
    assert after.alert.pk == alert.pk and after.notified
    alert.refresh_from_db()
    assert alert.occurrence_count == 3 and alert.routing["muted_by"] is None
    assert alert.routing["reasons"][-1].endswith("no longer applies: notified on occurrence 3")
    assert alert.last_notified_at == window.ends_at + timedelta(minutes=1)
    assert alert.next_escalation_at == window.ends_at + timedelta(minutes=16)  # weekday: 15 minutes
    (slack,) = calls_to(vendors, SLACK_WEBHOOK)
    assert json.loads(slack.request.body)["blocks"][0]["text"]["text"] == "HIGH: Errors"
    (mail,) = mailoutbox
    assert mail.extra_headers["Message-ID"] == f"<{alert.ref}.notify.1@wedsync.example>"  # the thread's root
    assert "In-Reply-To" not in mail.extra_headers
    assert len(calls_to(vendors, f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}")) == 1


def test_a_muted_critical_alert_is_notified_once_saturday_begins_even_inside_the_window(
    organisation, channels_fixture, vendors, deliver_all
):
    friday_afternoon = utc(2026, 10, 23, 14, 0)  # Fri 15:00 BST: not yet the wedding-day window
    MuteWindow.objects.create(
        organisation=organisation,
        starts_at=friday_afternoon - timedelta(hours=1),
        ends_at=friday_afternoon + timedelta(days=2),
        reason="weekend migration",
    )
    with freeze_time(friday_afternoon):
        muted = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", dedup_key="pay")
        deliver_all()
    assert muted.alert.routing["muted_by"] and len(vendors.calls) == 0
    with freeze_time(SATURDAY_BST):
        again = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", dedup_key="pay")
        deliver_all()
    assert again.notified and again.alert.next_escalation_at == SATURDAY_BST + timedelta(minutes=5)
    assert calls_to(vendors, "https://events.pagerduty.com")

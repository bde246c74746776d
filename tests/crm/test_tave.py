"""Tave (VSCO Workspace API v2): the monthly report as a note, exactly as the API takes it; no
second note after an ambiguous failure; the wedding note on its job; the health check."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import requests
import responses
from freezegun import freeze_time

from crm.models import CRMReport, JobLink, ReportKind
from crm.sync import sync_crm
from tests.fixtures import load
from wedsync_integrations.integrations import health, outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.usage.models import AIUsageRecord

from .conftest import JUNE, NOW, TAVE_API, TAVE_KEY

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")
NOTE_URL = f"{TAVE_API}/note"


def created_note(body: dict) -> dict:
    """Tave's 201 reply (recorded example) echoing what was posted."""
    return {**load("crm", "tave", "note_created"), **body}


@pytest.fixture
def tave(organisation, usage, tave_config):
    usage(organisation, JUNE, requests=100)
    return tave_config()


def test_the_100_request_example_is_posted_as_a_note(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=201, json=load("crm", "tave", "note_created"))
        result = sync_crm(tave, now=NOW)
        (call,) = api.calls
    assert (result.queued, result.delivered, result.failed) == (1, 1, 0)
    assert call.request.url == NOTE_URL
    assert call.request.headers["X-API-KEY"] == TAVE_KEY
    assert call.request.headers["Content-Type"] == "application/json"
    body = json.loads(call.request.body)
    example = load("crm", "tave", "note_request_example")  # the documented example request (docs/vendors/tave.md)
    assert set(body) == set(example) - {"jobId"}  # a studio note: attached to no job
    assert body["date"] == "2026-06-30"  # the last day of the month
    html = body["contentHtml"]
    assert html.startswith("<p><strong>WedSync AI value report: June 2026</strong></p><ul>")
    for line in ("<li>AI requests: 100 (100 completed)</li>", "<li>Time saved: 25 hours (15 minutes per",
                 "<li>Cost savings: £250.00 (£2.50 per", "<li>Revenue opportunity: £1,000.00 (4 ×",
                 "<li>Client retention improvement: 15% (WedSync&#x27;s estimate"):  # fmt: skip
        assert line in html
    assert html.endswith(
        "<p><em>WedSync AI value report for Acme Photography, June 2026 (ref wedsync:acme:2026-06)</em></p>"
    )
    report = CRMReport.objects.get()
    assert (report.kind, report.period, report.figures["cost_savings_gbp"]) == (ReportKind.MONTH, JUNE.first_day,
                                                                                "250.00")  # fmt: skip
    assert report.item.state == RetryState.SUCCEEDED
    assert report.item.result["note_id"] == "01h35ccwymj5ctckp8px1azhg6"
    assert TAVE_KEY not in json.dumps(report.item.payload)  # the key is added at send time only


def test_the_next_sync_sends_nothing_again(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=201, json=load("crm", "tave", "note_created"))
        sync_crm(tave, now=NOW)
        result = sync_crm(tave, now=NOW + timedelta(days=1))
        assert len(api.calls) == 1
    assert (result.queued, result.delivered) == (0, 0)


def test_a_resend_after_a_dropped_connection_finds_the_note_and_posts_no_second_one(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, body=requests.ConnectionError("Connection aborted: remote end closed"))
        first = sync_crm(tave, now=NOW)
        assert (first.delivered, first.failed) == (0, 1)
        posted = json.loads(api.calls[0].request.body)
        # Tave did create it: the studio's newest note is ours
        listing = load("crm", "tave", "note_collection")
        ours = created_note({**posted, "id": "01jz8k3m2c4q7r9t0v1w2x3y4z", "created": "2026-07-06T09:00:01Z"})
        listing["items"].insert(0, ours)
        api.get(NOTE_URL, json=listing)
        outbox.replay([FAMILY.retry_model.objects.get()])
        calls = [(call.request.method, call.request.url) for call in api.calls]
    assert [(method, url.split("?")[0]) for method, url in calls] == [("POST", NOTE_URL), ("GET", NOTE_URL)]
    assert "sortBy=created+desc" in calls[1][1] and "pageSize=100" in calls[1][1]  # looked, found, posted no more
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.SUCCEEDED
    assert item.result == {"note_id": "01jz8k3m2c4q7r9t0v1w2x3y4z", "href": ours["links"]["self"]["managerHref"],
                           "found": True}  # fmt: skip


def test_a_resend_posts_when_tave_does_not_have_the_note(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=503, json={"type": "unknown", "title": "Service Unavailable", "status": 503})
        sync_crm(tave, now=NOW)
        api.get(NOTE_URL, json=load("crm", "tave", "note_collection"))  # someone else's note only
        api.replace(responses.POST, NOTE_URL, status=201, json=load("crm", "tave", "note_created"))
        outbox.replay([FAMILY.retry_model.objects.get()])
        assert [call.request.method for call in api.calls] == ["POST", "GET", "POST"]
        assert api.calls[0].request.body == api.calls[2].request.body  # the stored payload, byte for byte
    assert FAMILY.retry_model.objects.get().state == RetryState.SUCCEEDED


def test_the_search_stops_at_notes_older_than_the_report(tave):
    listing = load("crm", "tave", "note_collection")  # one note from 2020
    listing["meta"]["totalPages"] = 40
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, body=requests.ReadTimeout("read timed out"))
        sync_crm(tave, now=NOW)
        api.get(NOTE_URL, json=listing)
        api.replace(responses.POST, NOTE_URL, status=201, json=load("crm", "tave", "note_created"))
        outbox.replay([FAMILY.retry_model.objects.get()])
        assert [call.request.method for call in api.calls] == ["POST", "GET", "POST"]  # one page, not forty


def test_a_429_waits_as_long_as_tave_asks(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=429, headers={"Retry-After": "90"}, json=load("crm", "tave", "quota_limit"))
        sync_crm(tave, now=NOW)
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.PENDING and item.next_attempt_at >= NOW + timedelta(seconds=90)
    assert "HTTP 429" in item.last_error


def test_a_validation_error_is_dead_with_taves_explanation(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=400, json=load("crm", "tave", "validation_error"))
        sync_crm(tave, now=NOW)
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.DEAD and "This value should not be blank" in item.last_error


def test_a_refused_key_stops_the_configuration_and_keeps_the_report(tave):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=401, json={"type": "unknown", "title": "Unauthorized", "status": 401})
        sync_crm(tave, now=NOW)
    tave.refresh_from_db()
    assert tave.status == ConfigStatus.STOPPED and "401" in tave.status_reason
    assert FAMILY.retry_model.objects.get().state == RetryState.PENDING


def test_health_reads_the_studio(tave):
    with responses.RequestsMock() as api:
        api.get(f"{TAVE_API}/studio/me", json=load("crm", "tave", "studio_me"))
        result = health.check(tave, refresh=True)
        assert api.calls[0].request.headers["X-API-KEY"] == TAVE_KEY
    assert result["ok"] and result["message"] == "connected to studio Cotswold Lens Photography"


# -- a wedding's note ----------------------------------------------------------------------------------
def test_a_wedding_over_gets_a_note_about_its_ai_help_on_its_job(organisation, tave_config, make_wedding):
    tave = tave_config()
    wedding = make_wedding(organisation, date(2026, 7, 4), venue="Kew Gardens")
    JobLink.objects.create(organisation=organisation, job_id="01h35ccwymj5ctckp8px1azhg6", wedding=wedding)
    later = make_wedding(organisation, date(2026, 7, 11))
    JobLink.objects.create(organisation=organisation, job_id="01fqcr215r79p3h19crqbpzwzh", wedding=later)
    requests = [("timeline_planning", "ok")] * 3 + [("email_template", "ok"), ("email_template", "error")]
    for n, (feature, outcome) in enumerate(requests):
        AIUsageRecord.objects.create(
            organisation=organisation, request_id=f"r{n}", occurred_at=NOW - timedelta(days=20),
            hour=NOW - timedelta(days=20), feature=feature, provider="openai", model="gpt-4o-mini", latency_ms=900,
            cost_usd=0, cost_gbp=0, outcome=outcome, wedding=wedding, wedding_date=wedding.date,
        )  # fmt: skip
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(NOTE_URL, status=201, json=load("crm", "tave", "note_created"))
        result = sync_crm(tave, now=NOW)  # 6 July: the 4 July wedding is over, the 11 July one is not
        (call,) = api.calls
    assert result.queued == 1  # June had no usage: no monthly note
    body = json.loads(call.request.body)
    assert body["jobId"] == "01h35ccwymj5ctckp8px1azhg6" and body["date"] == "2026-07-04"
    html = body["contentHtml"]
    assert "WedSync AI helped with this wedding (4 July 2026 at Kew Gardens)" in html
    assert "AI requests for this wedding: 5 (4 completed)" in html
    assert "Most used: timeline planning 3, email template 2" in html
    assert "Time saved: 1 hour" in html and "Cost savings: £10.00" in html
    june = CRMReport.objects.get(kind=ReportKind.MONTH)
    assert june.item is None and june.figures["requests"] == 0  # recorded as considered, nothing sent
    assert CRMReport.objects.get(kind=ReportKind.WEDDING).wedding == wedding


def test_a_wedding_without_ai_help_gets_no_note(organisation, tave_config, make_wedding):
    tave = tave_config()
    wedding = make_wedding(organisation, date(2026, 7, 4))
    JobLink.objects.create(organisation=organisation, job_id="01h35ccwymj5ctckp8px1azhg6", wedding=wedding)
    with responses.RequestsMock(), freeze_time(NOW):  # any call to Tave fails the test
        assert sync_crm(tave, now=NOW).queued == 0
        assert sync_crm(tave, now=NOW).queued == 0
    assert CRMReport.objects.filter(kind=ReportKind.WEDDING, item__isnull=True).count() == 1

"""The acceptance test, per source: each accepts a correctly signed request, rejects a tampered,
stale or unsigned one (401, logged, nothing stored), dedupes a repeat, throttles a flood and
survives a handler crash with the event kept. Requests follow the vendors' documented formats."""

from __future__ import annotations

import pytest

from webhooks import processing
from webhooks.models import EventStatus, InboundEvent, RejectedAttempt, RejectReason

from .cases import CASES, PUBLIC, Case

pytestmark = [pytest.mark.django_db, pytest.mark.parametrize("case", CASES, ids=str)]


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC  # Twilio signs the URL it called: the public one


@pytest.fixture
def send(post, organisation, webhook_config):
    def send_case(case: Case, req, slug="acme"):
        return post(case.source, slug, req.body, req.headers, content_type=req.content_type, query=req.query)

    return send_case


@pytest.fixture
def configured(organisation, webhook_config):
    def configure(case: Case, **settings):
        return webhook_config(case.source, organisation, case.secret, settings={**case.settings, **settings})

    return configure


def test_accepts_a_correctly_signed_request_and_stores_the_event(case, send, configured, organisation, no_dispatch):
    configured(case)
    response = send(case, case.build("acme", 1))
    assert (response.status_code, response.content) == case.reply  # Slack/Xero empty, PagerDuty 202, TwiML…
    event = InboundEvent.objects.get()
    assert (event.source, event.organisation_id, event.event_type) == (case.source, organisation.pk, case.event_type)
    assert event.status == EventStatus.RECEIVED
    assert no_dispatch == [(event.pk, event.priority)]


def test_rejects_a_tampered_request(case, send, configured):
    configured(case)
    response = send(case, case.tamper(case.build("acme", 1)))
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
    attempt = RejectedAttempt.objects.get()
    assert (attempt.source, attempt.reason, attempt.client_ip) == (case.source, RejectReason.BAD_SIGNATURE, "127.0.0.1")
    assert attempt.body_bytes > 0 and len(attempt.body_sha256) == 64


def test_rejects_an_unsigned_request(case, send, configured):
    configured(case)
    response = send(case, case.unsign(case.build("acme", 1)))
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
    assert RejectedAttempt.objects.get().reason == RejectReason.MISSING_SIGNATURE


def test_rejects_a_stale_request_or_dedupes_a_replayed_one(case, send, configured, handled, eager_celery):
    """Where the vendor signs a timestamp, an old request is refused; where it does not, replaying
    a captured delivery is acknowledged but never processed a second time."""
    configured(case)
    handled(case.source, case.event_type)
    if case.stale is not None:
        response = send(case, case.stale("acme", 1))
        assert response.status_code == 401
        assert RejectedAttempt.objects.get().reason == RejectReason.STALE_TIMESTAMP
        assert not InboundEvent.objects.exists()
    else:
        request = case.build("acme", 1)
        assert send(case, request).status_code < 300
        replay = send(case, request)
        assert replay.status_code < 300
        assert InboundEvent.objects.count() == 1
        assert len(handled.seen) == 1


def test_a_repeat_is_acknowledged_and_not_stored_or_processed_twice(case, send, configured, handled, eager_celery):
    configured(case)
    handled(case.source, case.event_type)
    first = send(case, case.build("acme", 7))
    repeat = send(case, case.build("acme", 7))  # the vendor's retry: same event id, freshly signed
    assert first.status_code == repeat.status_code and first.status_code < 300
    assert first["X-Inbound-Event-Ids"] == repeat["X-Inbound-Event-Ids"]
    assert InboundEvent.objects.count() == 1
    assert len(handled.seen) == 1


def test_a_flood_is_throttled_with_retry_after(case, send, configured):
    configured(case, rate_limit_per_minute=3, peak_rate_limit_per_minute=3)
    statuses = [send(case, case.build("acme", n)).status_code for n in range(5)]
    assert statuses[:3] == [statuses[0]] * 3 and statuses[0] < 300
    assert statuses[3:] == [429, 429]
    throttled = send(case, case.build("acme", 9))
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert InboundEvent.objects.count() == 3


def test_a_handler_crash_keeps_the_event_and_queues_it_for_retry(case, send, configured, handled, no_dispatch):
    configured(case)
    handled(case.source, case.event_type, fail_times=1)
    send(case, case.build("acme", 1))
    event = InboundEvent.objects.get()

    assert processing.process(event.pk) == EventStatus.RETRYING
    event.refresh_from_db()
    assert event.status == EventStatus.RETRYING and event.attempts == 1
    assert "RuntimeError: handler crashed" in event.last_error
    assert event.next_attempt_at > event.received_at

    assert processing.process(event.pk, now=event.next_attempt_at) == EventStatus.PROCESSED
    assert [e.pk for e in handled.seen] == [event.pk]

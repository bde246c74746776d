"""VendorClient: the one HTTP path to every vendor, and how it classifies what comes back."""

from __future__ import annotations

import email.utils
import io
import logging
import time

import pytest
import requests
import responses

from wedsync_integrations.core.metrics import VENDOR_CALLS
from wedsync_integrations.core.observability import correlation_scope
from wedsync_integrations.integrations.errors import (
    CircuitOpenError,
    PayloadTooLarge,
    PermanentError,
    RetryableError,
    UnsafeURLError,
)
from wedsync_integrations.integrations.http import USER_AGENT, VendorClient, parse_retry_after
from wedsync_integrations.integrations.secrets import SecretBag

API_KEY = "dd-live-key-0123456789abcdef"
SLACK_URL = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"
SERIES = "https://api.datadoghq.com/api/v2/series"


@pytest.fixture
def client():
    return VendorClient(
        family="monitoring",
        provider="datadog",
        base_url="https://api.datadoghq.com/",
        organisation_id=7,
        guarded=False,
        secrets=SecretBag(api_key=API_KEY).values_to_hide(),
        default_headers={"DD-API-KEY": API_KEY},
    )


@pytest.fixture
def log_output():
    """What the configured console handler writes for wedsync.http, at INFO."""
    console = next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")
    stream = io.StringIO()
    previous_stream = console.setStream(stream)
    logger = logging.getLogger("wedsync.http")
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.setLevel(previous_level)
    console.setStream(previous_stream)


def _raises(client, exc_type, *args, **kwargs):
    with pytest.raises(exc_type) as caught:
        client.request(*args, **kwargs)
    return caught.value


@responses.activate
def test_a_2xx_returns_the_response_with_our_headers_and_explicit_timeouts(client):
    sent = responses.post(SERIES, status=202, json={"errors": []})
    response = client.request("POST", "/api/v2/series", json={"series": []}, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 202
    request = sent.calls[0].request
    assert request.url == SERIES
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["DD-API-KEY"] == API_KEY and request.headers["Content-Encoding"] == "gzip"
    assert request.req_kwargs["timeout"] == (5.0, 20.0)


@responses.activate
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (requests.ConnectTimeout("connect timed out"), "request timed out"),
        (requests.ReadTimeout("read timed out"), "request timed out"),
        (requests.ConnectionError("connection refused"), "connection failed"),
        (requests.exceptions.ChunkedEncodingError("broken"), "response broken off"),
    ],
)
def test_timeouts_and_connection_errors_are_retryable(client, failure, message):
    responses.post(SERIES, body=failure)
    error = _raises(client, RetryableError, "POST", "/api/v2/series")
    assert message in error.message and "api.datadoghq.com/api/v2/series" in error.message
    assert error.status is None and client.breaker.failures() == 1


@responses.activate
@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 507, 522, 599, 408, 425])
def test_5xx_and_408_are_retryable(client, status):
    responses.post(SERIES, status=status, body="upstream trouble")
    error = _raises(client, RetryableError, "POST", "/api/v2/series")
    assert error.status == status
    assert error.message == f"datadog: HTTP {status} from api.datadoghq.com/api/v2/series: upstream trouble"


@responses.activate
def test_429_honours_retry_after_in_seconds(client):
    responses.post(SERIES, status=429, headers={"Retry-After": "120"})
    error = _raises(client, RetryableError, "POST", "/api/v2/series")
    assert error.status == 429 and error.retry_after == 120


@responses.activate
def test_429_honours_retry_after_as_an_http_date(client):
    when = email.utils.formatdate(time.time() + 300, usegmt=True)
    responses.post(SERIES, status=429, headers={"Retry-After": when})
    error = _raises(client, RetryableError, "POST", "/api/v2/series")
    assert 295 <= error.retry_after <= 300


@responses.activate
def test_datadog_rate_limit_reset_header_is_honoured(client):
    responses.post(SERIES, status=429, headers={"X-RateLimit-Limit": "100", "X-RateLimit-Reset": "17"})
    assert _raises(client, RetryableError, "POST", "/api/v2/series").retry_after == 17


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: now
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e30"}, 86400.0),  # a day at most; never an overflow
        ({}, None),
    ],
)
def test_retry_after_edge_values(headers, expected):
    response = requests.Response()
    response.headers.update(headers)
    assert parse_retry_after(response) == expected


@responses.activate
def test_413_is_payload_too_large_and_does_not_stop_the_config(client):
    responses.post(SERIES, status=413, body="Payload too large")
    error = _raises(client, PayloadTooLarge, "POST", "/api/v2/series")
    assert isinstance(error, PermanentError) and not error.stops_config and error.status == 413


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_stop_the_config(client, status):
    responses.post(SERIES, status=status, body='{"errors": ["Forbidden"]}')
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert error.stops_config and error.status == status


@responses.activate
@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_are_permanent_and_keep_the_circuit_closed(client, status):
    responses.post(SERIES, status=status, body="bad metric")
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert not isinstance(error, RetryableError) and not error.stops_config
    assert client.breaker.failures() == 0  # the vendor answered: it is up


@responses.activate
def test_redirects_are_not_followed(client):
    responses.post(SERIES, status=302, headers={"Location": "https://elsewhere.example.com/steal"})
    elsewhere = responses.post("https://elsewhere.example.com/steal")
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert "redirects are not followed" in error.message and error.status == 302
    assert elsewhere.call_count == 0


@responses.activate
def test_an_invalid_request_is_permanent_and_its_text_is_not_shown(client):
    responses.post(SERIES, body=requests.exceptions.InvalidHeader(f"Invalid header value {API_KEY}"))
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert "InvalidHeader" in error.message and API_KEY not in error.message


@responses.activate
def test_a_secret_echoed_by_the_vendor_is_redacted_from_the_error_and_the_log(client, log_output):
    responses.post(SERIES, status=403, body=f'{{"errors": ["API key {API_KEY} is invalid"]}}')
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert API_KEY not in error.message and API_KEY not in error.response_body
    assert "API key *** is invalid" in error.message
    assert API_KEY not in log_output.getvalue()


@responses.activate
def test_a_secret_echoed_across_the_stored_length_limit_leaves_no_part_of_it(client):
    """The body is kept to 2,000 characters: cut first and redacted after, a key straddling the
    cut no longer matched and its first half went into last_error, the sync log and Delivery.response."""
    echo = "x" * (2000 - 14) + API_KEY + " was rejected"
    responses.post(SERIES, status=400, body=echo)
    error = _raises(client, PermanentError, "POST", "/api/v2/series")
    assert API_KEY[:14] not in error.response_body and API_KEY[:14] not in error.message
    assert "x*** was" in error.response_body and len(error.response_body) <= 2000


@responses.activate
def test_a_secret_url_path_is_redacted_whole_from_errors_and_logs(log_output):
    slack = VendorClient(
        family="alerts",
        provider="slack",
        base_url=SLACK_URL,
        secrets=SecretBag(webhook_url=SLACK_URL).values_to_hide(),
    )
    sent = responses.post(SLACK_URL, status=404, body="no_team")
    error = _raises(slack, PermanentError, "POST", "", json={"text": "hi"})
    assert sent.calls[0].request.url == SLACK_URL  # the endpoint itself, no trailing slash
    responses.post(SLACK_URL, body=requests.ConnectionError("refused"))
    timeout = _raises(slack, RetryableError, "POST", "", json={"text": "hi"})
    for text in (error.message, timeout.message, log_output.getvalue()):
        assert "abcdefghij" not in text and "T0AAAAAAA" not in text
        assert "hooks.slack.com***" in text


@responses.activate
def test_every_log_record_carries_the_correlation_id(client, log_output):
    responses.post(SERIES, status=202)
    responses.get("https://api.datadoghq.com/api/v1/validate", status=500)
    with correlation_scope("req-4f2a9c"):
        client.request("POST", "/api/v2/series")
        with pytest.raises(RetryableError):
            client.request("GET", "/api/v1/validate")
    lines = log_output.getvalue().splitlines()
    assert len(lines) == 2
    assert all("[cid=req-4f2a9c]" in line for line in lines)
    assert (
        "vendor.call family=monitoring provider=datadog org=7 POST api.datadoghq.com/api/v2/series status=202"
        in (lines[0])
    )
    assert "GET api.datadoghq.com/api/v1/validate status=500" in lines[1]
    assert API_KEY not in log_output.getvalue()  # headers are never logged


@responses.activate
def test_the_circuit_opens_after_repeated_failures_and_then_nothing_is_sent(client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    client.breaker.failure_threshold = 3
    sent = responses.post(SERIES, status=503)
    for _ in range(3):
        _raises(client, RetryableError, "POST", "/api/v2/series")
    error = _raises(client, CircuitOpenError, "POST", "/api/v2/series")
    assert isinstance(error, RetryableError) and 0 < error.retry_after <= 60
    assert sent.call_count == 3


@responses.activate
def test_cookies_from_one_tenant_never_reach_another(client):
    responses.post(SERIES, status=202, headers={"Set-Cookie": "session=tenant-7-session; Path=/"})
    client.request("POST", "/api/v2/series")
    other_tenant = VendorClient(family="monitoring", provider="datadog", base_url=client.base_url, guarded=False)
    assert other_tenant.session is client.session  # pooled: one session per vendor per process
    other_tenant.request("POST", "/api/v2/series")
    assert "Cookie" not in responses.calls[1].request.headers


@responses.activate
def test_a_guarded_client_refuses_a_private_address_without_sending(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    target = responses.post("https://10.0.0.8/api/v2/series")
    client = VendorClient(family="monitoring", provider="datadog", base_url="https://10.0.0.8", guarded=True)
    with pytest.raises(UnsafeURLError):
        client.request("POST", "/api/v2/series")
    assert target.call_count == 0


@responses.activate
def test_every_call_is_counted_in_metrics_by_status_class_or_error(client):
    def count(outcome):
        return VENDOR_CALLS.labels("monitoring", "datadog", outcome)._value.get()

    before = {outcome: count(outcome) for outcome in ("2xx", "5xx", "4xx", "timeout")}
    responses.add(responses.POST, SERIES, status=202)
    responses.add(responses.POST, SERIES, status=503)
    responses.add(responses.POST, SERIES, status=400)
    responses.add(responses.POST, SERIES, body=requests.ReadTimeout("read timed out"))

    client.request("POST", "/api/v2/series", json={})
    for _ in range(3):
        with pytest.raises((RetryableError, PermanentError)):
            client.request("POST", "/api/v2/series", json={})

    assert {outcome: count(outcome) - before[outcome] for outcome in before} == {
        "2xx": 1,
        "5xx": 1,
        "4xx": 1,
        "timeout": 1,
    }

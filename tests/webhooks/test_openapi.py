"""The OpenAPI schema documents the webhook endpoints, and a bounded schemathesis run against the
webhook and usage endpoints (through WSGI, on the test database) finds no 5xx (issue 4, part 6)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from wedsync_integrations.usage.tokens import issue_token

from .cases import SHARED_TOKEN, TAVE_TOKEN, WHSEC

WEBHOOK_PATHS = ["/api/webhooks/ai-integrations/{source}/", "/api/webhooks/ai-integrations/{source}/{org_slug}/"]


@pytest.mark.django_db
def test_schema_documents_both_webhook_paths_with_sources_and_responses():
    schema = Client().get("/api/schema/?format=json").json()
    for path in WEBHOOK_PATHS:
        operation = schema["paths"][path]["post"]
        assert set(operation["responses"]) >= {"200", "400", "401", "404", "413", "429"}
        source = next(p for p in operation["parameters"] if p["name"] == "source")
        assert "pagerduty" in source["schema"]["enum"] and "freshbooks" in source["schema"]["enum"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {
            "X-Slack-Signature", "X-Slack-Request-Timestamp", "X-PagerDuty-Signature", "X-Twilio-Signature",
            "x-xero-signature", "intuit-signature", "X-FreshBooks-Hmac-SHA256",
            "webhook-id", "webhook-timestamp", "webhook-signature",
        }  # fmt: skip
        assert "Authorization: Bearer" in operation["description"]


@pytest.fixture
def webhook_api(db, make_organisation, webhook_config, settings):
    """The live schema, with real configurations behind it so fuzzed requests reach verification.

    Requests go through the raw WSGI app; like Django's own test client, keep the request signals
    from closing the test's database connection (it holds the test transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    settings.SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
    organisation = make_organisation(slug="acme")
    for source, secret in [("generic", WHSEC), ("pagerduty", "pd-secret-0001"), ("datadog", SHARED_TOKEN),
                           ("tave", TAVE_TOKEN), ("xero", "xero-key-0001"), ("twilio", "twilio-token-0001"),
                           ("slack", "slack-secret-0001"), ("quickbooks", "qbo-verifier-0001")]:  # fmt: skip
        webhook_config(source, organisation, secret)
    webhook_config("freshbooks", organisation, None, settings={"pending_callback_id": "2001"})
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    # a real usage token, so fuzzed ingest bodies get past authentication to validation
    token = issue_token(organisation, created_by="schemathesis")
    yield schema.include(path_regex="^/api/(webhooks/|v1/usage/)"), token
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _fuzz(operation, headers: dict, path_parameters: dict) -> set[int]:
    """Bounded (max_examples), in-process (WSGI) hypothesis run of one operation; the statuses seen."""
    seen: set[int] = set()

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.path_parameters = {**(case.path_parameters or {}), **path_parameters}
        response = case.call(headers=headers)
        seen.add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    run()
    return seen


@pytest.mark.slow
def test_fuzzed_webhook_and_usage_requests_never_cause_a_server_error(webhook_api, settings):
    schema, usage_token = webhook_api
    # every fuzzed request comes from one address: past its forgery budget they would all be 429s
    settings.WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE = 100_000
    operations = {result.ok().path: result.ok() for result in schema.get_all_operations()}
    assert set(operations) == {*WEBHOOK_PATHS, "/api/v1/usage/"}
    # fuzzed bodies and headers for endpoints that exist (random slugs and sources find only 404),
    # and a real usage token, so each operation's checks are what the fuzzing exercises
    usage_auth = {"Authorization": f"Bearer {usage_token}"}
    statuses = {
        "platform": _fuzz(operations[WEBHOOK_PATHS[0]], {}, {"source": "slack"}),  # the one global source
        "organisation": _fuzz(operations[WEBHOOK_PATHS[1]], {}, {"org_slug": "acme"}),
        "usage": _fuzz(operations["/api/v1/usage/"], usage_auth, {}),
    }
    assert all(codes and max(codes) < 500 for codes in statuses.values()), statuses
    assert statuses["platform"] & {401} and statuses["organisation"] & {401}  # reached signature checking
    assert statuses["usage"] & {400, 413}  # authenticated: the bodies reached validation

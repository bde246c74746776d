"""The inbox's hot path: the hand-written INSERT stays in step with the model, detects duplicates
without an exception, and the endpoint's configuration cache forgets a change at once."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from webhooks import inbox, intake
from webhooks.models import EventStatus, InboundEvent, Priority, WebhookConfig
from webhooks.providers.base import ParsedEvent

from . import vendors
from .conftest import OTHER_WHSEC, WHSEC

pytestmark = pytest.mark.django_db


def test_the_insert_writes_every_column_of_the_model():
    model_columns = {field.column for field in InboundEvent._meta.concrete_fields if not field.primary_key}
    assert set(inbox.COLUMNS) == model_columns
    assert len(inbox.COLUMNS) == len(set(inbox.COLUMNS))


def test_stored_rows_read_back_through_the_orm_exactly(organisation):
    now = timezone.now()
    parsed = ParsedEvent("incident.resolved", "evt-9", {"event": {"id": "evt-9", "n": [1, 2.5, None, "é"]}})
    [(pk, duplicate)] = inbox.store("pagerduty", organisation, [parsed], client_ip="2001:db8::1",
                                    headers={"X-Webhook-Id": "wh-9"}, now=now)  # fmt: skip
    event = InboundEvent.objects.get(pk=pk)
    assert not duplicate
    assert (event.source, event.organisation, event.event_type, event.external_id) == (
        "pagerduty", organisation, "incident.resolved", "evt-9")  # fmt: skip
    assert event.payload == {"event": {"id": "evt-9", "n": [1, 2.5, None, "é"]}}
    assert event.headers == {"X-Webhook-Id": "wh-9"} and event.client_ip == "2001:db8::1"
    assert (event.status, event.attempts, event.max_attempts, event.handlers_done) == (EventStatus.RECEIVED, 0, 8, [])
    assert event.received_at == now == event.next_attempt_at and event.processed_at is None
    assert event.priority in (Priority.NORMAL, Priority.WEDDING_DAY) and len(event.correlation_id) > 0
    assert event.dedupe_key == inbox.dedupe_key("pagerduty", organisation.pk, "evt-9")


def test_a_duplicate_is_reported_with_the_original_id(organisation):
    first = inbox.store("generic", organisation, [ParsedEvent("a.b", "msg_1", {})])
    again = inbox.store("generic", organisation, [ParsedEvent("a.b", "msg_1", {"changed": True})])
    assert again == [(first[0][0], True)]
    assert InboundEvent.objects.get().payload == {}  # the first delivery is what was stored


def test_other_databases_use_the_orm_and_its_unique_constraint(organisation, monkeypatch):
    monkeypatch.setattr(inbox, "_insert_postgresql", inbox._insert_orm)
    monkeypatch.setattr(inbox, "_insert_sqlite", inbox._insert_orm)
    [(pk, duplicate)] = inbox.store("generic", organisation, [ParsedEvent("a.b", "msg_2", {"x": 1})])
    assert not duplicate and InboundEvent.objects.get(pk=pk).payload == {"x": 1}
    assert inbox.store("generic", organisation, [ParsedEvent("a.b", "msg_2", {})]) == [(pk, True)]


def test_the_endpoint_reads_a_changed_secret_at_once_in_this_process(post, organisation, webhook_config):
    config = webhook_config("generic", organisation, WHSEC)
    body = vendors.as_json({"type": "crm.client.created"})
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_a", body)).status_code == 200
    config.secrets = {"signing_secret": OTHER_WHSEC}
    config.save()  # rotation without keeping the previous secret
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_b", body)).status_code == 401
    assert post("generic", "acme", body, vendors.standard_headers(OTHER_WHSEC, "msg_c", body)).status_code == 200


def test_the_configuration_cache_expires_for_changes_made_elsewhere(post, organisation, webhook_config, settings):
    webhook_config("generic", organisation, WHSEC)
    body = vendors.as_json({"type": "crm.client.created"})
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_a", body)).status_code == 200
    WebhookConfig.objects.update(enabled=False)  # as another process would: no signal here
    settings.WEBHOOK_CONFIG_CACHE_SECONDS = 5
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_b", body)).status_code == 200
    for key, (_, target) in list(intake._targets.items()):
        intake._targets[key] = (0.0, target)  # the TTL has passed
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_c", body)).status_code == 404


def test_a_previous_secret_keeps_working_during_rotation(post, organisation, webhook_config):
    webhook_config("generic", organisation, OTHER_WHSEC, secrets={"previous_signing_secret": WHSEC})
    body = vendors.as_json({"type": "crm.client.created"})
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_old", body)).status_code == 200
    assert post("generic", "acme", body, vendors.standard_headers(OTHER_WHSEC, "msg_new", body)).status_code == 200


def test_headers_are_read_from_the_environ_case_insensitively():
    from webhooks.verification import EnvironHeaders

    headers = EnvironHeaders(
        {"HTTP_X_SLACK_SIGNATURE": "v0=abc", "CONTENT_TYPE": "application/json", "HTTP_WEBHOOK_ID": "msg_1",
         "wsgi.input": object()}
    )  # fmt: skip
    assert headers["x-slack-signature"] == headers["X-Slack-Signature"] == "v0=abc"
    assert headers.get("Webhook-Id") == "msg_1" and headers.get("webhook-signature") is None
    assert "content-type" in headers and "X-Missing" not in headers
    assert sorted(headers) == ["Content-Type", "Webhook-Id", "X-Slack-Signature"]


def test_only_a_connection_that_just_carried_an_insert_skips_the_per_request_health_check(organisation, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the hand-written PostgreSQL insert marks its connection")
    inbox.store("generic", organisation, [ParsedEvent("a.b", "msg_hc", {})])
    connection.health_check_done = False  # as at the start of the next request
    inbox._skip_health_check_if_just_used(connections[DEFAULT_DB_ALIAS])
    assert connection.health_check_done  # busy: the round trip is saved
    connection.health_check_done = False
    monkeypatch.setattr(inbox, "HEALTH_CHECK_AFTER_IDLE_SECONDS", 0.0)  # the connection has sat idle
    inbox._skip_health_check_if_just_used(connections[DEFAULT_DB_ALIAS])
    assert not connection.health_check_done  # Django checks it as usual
    monkeypatch.undo()
    connection.webhooks_last_insert = (object(), connection.webhooks_last_insert[1])  # marked on another connection
    inbox._skip_health_check_if_just_used(connections[DEFAULT_DB_ALIAS])
    assert not connection.health_check_done

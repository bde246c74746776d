"""The ledgers' webhooks confirm exports (accounting/confirmations.py; moved here from the
webhooks app, which only carries the events): signed QuickBooks, Xero and FreshBooks events become
confirmations, idempotently, matched to the export whose document they name; a deletion marks the
export voided and tells staff. Also: the rows the webhooks app recorded are copied by migration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounting import tasks
from accounting.confirmations import record_confirmation
from accounting.models import ExportConfirmation, ExportState, MonthlyExport
from tests.webhooks import vendors
from tests.webhooks.cases import PUBLIC, QBO_VERIFIER, XERO_KEY
from tests.webhooks.conftest import (  # noqa: F401  (events published as they arrive, no endpoint cache)
    _fresh_config_cache,
    _publish_as_events_arrive,
)
from webhooks.models import InboundEvent

from .conftest import queue_frozen

pytestmark = pytest.mark.django_db
MAPPINGS = {"vendor_id": "56", "expense_account_id": "78", "ap_account_id": "33", "tax_code_id": "2"}


@pytest.fixture(autouse=True)
def _public(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


def sent_export(ledger_config, provider="quickbooks", entity_type="Bill", entity_id="145") -> MonthlyExport:
    config = ledger_config(provider)
    export, _ = queue_frozen(config, MAPPINGS)
    MonthlyExport.objects.filter(pk=export.pk).update(vendor_entity_type=entity_type, vendor_entity_id=entity_id,
                                                      state=ExportState.SENT)  # fmt: skip
    export.refresh_from_db()
    return export


def qbo_events(*events) -> bytes:
    return vendors.as_json([{"specversion": "1.0", "time": "2026-12-07T10:00:00Z", "intuitaccountid": "9130355",
                             **event} for event in events])  # fmt: skip


def test_quickbooks_cloudevents_become_confirmations_and_confirm_the_export(post, organisation, webhook_config,
                                                                             eager_celery, ledger_config):  # fmt: skip
    export = sent_export(ledger_config)
    webhook_config("quickbooks", organisation, QBO_VERIFIER, settings={"realm_id": "9130355"})
    body = qbo_events({"id": "evt-1", "type": "qbo.bill.created.v1", "intuitentityid": "145"},
                      {"id": "evt-2", "type": "qbo.purchase.deleted.v1", "intuitentityid": "77"})  # fmt: skip
    signature = {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)}
    assert post("quickbooks", "acme", body, signature).status_code == 200

    rows = ExportConfirmation.objects.order_by("entity_id").values_list(
        "source", "entity_type", "entity_id", "operation", "vendor_account", "occurred_at", "export_id"
    )
    assert list(rows) == [
        ("quickbooks", "Bill", "145", "created", "9130355", datetime(2026, 12, 7, 10, tzinfo=UTC), export.pk),
        ("quickbooks", "Purchase", "77", "deleted", "9130355", datetime(2026, 12, 7, 10, tzinfo=UTC), None),
    ]  # fmt: skip
    export.refresh_from_db()
    assert export.state == ExportState.CONFIRMED and export.confirmed_at is not None


def test_quickbooks_legacy_notifications_become_confirmations(post, organisation, webhook_config, eager_celery):
    webhook_config("quickbooks", organisation, QBO_VERIFIER)
    body = vendors.as_json({"eventNotifications": [{"realmId": "9130355", "dataChangeEvent": {"entities": [
        {"name": "Bill", "id": "145", "operation": "Create", "lastUpdated": "2026-06-01T10:00:00.000Z"},
        {"name": "Purchase", "id": "9", "operation": "Void", "lastUpdated": "2026-06-01T11:00:00.000Z"},
    ]}}]})  # fmt: skip
    post("quickbooks", "acme", body, {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)})
    assert sorted(ExportConfirmation.objects.values_list("entity_type", "entity_id", "operation")) == [
        ("Bill", "145", "created"), ("Purchase", "9", "voided"),
    ]  # fmt: skip


def test_xero_and_freshbooks_events_become_confirmations(post, organisation, webhook_config, eager_celery):
    webhook_config("xero", organisation, XERO_KEY)
    event = {"resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/abc", "resourceId": "abc-123",
             "eventDateUtc": "2026-06-01T10:00:00.000", "eventType": "CREATE", "eventCategory": "INVOICE",
             "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", "tenantType": "ORGANISATION"}  # fmt: skip
    body = vendors.as_json({"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "E"})
    post("xero", "acme", body, {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)})
    webhook_config("freshbooks", organisation, "fb-verifier-0001")
    form = "name=expense.create&object_id=123&account_id=aBcD1&business_id=456&identity_id=789&user_id=1"
    headers = {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature("fb-verifier-0001", form)}
    post("freshbooks", "acme", form.encode(), headers, content_type="application/x-www-form-urlencoded")
    rows = ExportConfirmation.objects.order_by("source").values_list("source", "entity_type", "entity_id", "operation",
                                                                     "vendor_account")  # fmt: skip
    assert list(rows) == [
        ("freshbooks", "Expense", "123", "created", "aBcD1"),
        ("xero", "Invoice", "abc-123", "created", "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"),
    ]


def _event(organisation, source="quickbooks", event_type="qbo.bill.created.v1", entity="145", key="k1"):
    return InboundEvent.objects.create(
        source=source, organisation=organisation, event_type=event_type, external_id=key, dedupe_key=key,
        payload={"intuitentityid": entity, "intuitaccountid": "9130355", "time": "2026-12-07T10:00:00Z"},
    )  # fmt: skip


def test_reprocessing_an_event_is_idempotent(organisation, ledger_config):
    export = sent_export(ledger_config)
    event = _event(organisation)
    assert record_confirmation(event) == f"Bill 145 created matched export {export.reference}"
    assert record_confirmation(event) == f"Bill 145 created matched export {export.reference}"
    assert ExportConfirmation.objects.get().matched_item_id == export.retry_item_id


def test_a_confirmation_before_its_export_is_matched_by_the_hourly_task(organisation, make_organisation,
                                                                       ledger_config):  # fmt: skip
    event = _event(organisation)
    assert record_confirmation(event) == "Bill 145 created (unmatched)"
    config = ledger_config("quickbooks")
    other = make_organisation(slug="other")
    theirs, _ = queue_frozen(_config_for(other), MAPPINGS)
    MonthlyExport.objects.filter(pk=theirs.pk).update(vendor_entity_type="Bill", vendor_entity_id="145")
    assert tasks.match_confirmations() == 0  # another organisation's bill never matches
    mine, _ = queue_frozen(config, MAPPINGS)
    MonthlyExport.objects.filter(pk=mine.pk).update(vendor_entity_type="Bill", vendor_entity_id="145")
    assert tasks.match_confirmations() == 1  # what the hourly beat task runs
    assert ExportConfirmation.objects.get().export_id == mine.pk


def _config_for(organisation):
    from accounting.models import AccountingConfig
    from tests.kernel.credential_providers import fresh_credential

    from .conftest import CLIENT, qbo_settings

    return AccountingConfig.objects.create(organisation=organisation, provider="quickbooks", settings=qbo_settings(),
                                           secrets=dict(CLIENT), credential=fresh_credential())  # fmt: skip


def test_a_deleted_document_marks_the_export_voided_and_tells_staff(organisation, ledger_config, notices):
    export = sent_export(ledger_config)
    record_confirmation(_event(organisation, event_type="qbo.bill.deleted.v1"))
    export.refresh_from_db()
    assert export.state == ExportState.VOIDED and "was deleted" in export.state_reason
    (notice,) = notices
    assert notice.key == f"accounting:voided:{export.pk}" and notice.severity == "high"
    assert "voided or deleted in quickbooks" in notice.title


def test_the_freshbooks_verification_handshake_is_not_an_entity(organisation):
    event = InboundEvent.objects.create(source="freshbooks", organisation=organisation, event_type="callback.verify",
                                        external_id="v", dedupe_key="v", payload={"object_id": "55"})  # fmt: skip
    assert record_confirmation(event) == "not an entity event"
    assert not ExportConfirmation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_rows_the_webhooks_app_recorded_are_copied_into_accounting(organisation):
    """Migration accounting 0002 copies webhooks' confirmations before webhooks 0008 drops their table."""
    executor = MigrationExecutor(connection)
    before = [("accounting", "0001_initial"), ("webhooks", "0008_choices_from_the_registry")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    event = old_apps.get_model("webhooks", "InboundEvent").objects.create(
        source="xero", organisation_id=organisation.pk, event_type="invoice.create", external_id="x", dedupe_key="x",
        payload={},
    )  # fmt: skip
    old_apps.get_model("webhooks", "ExportConfirmation").objects.create(
        source="xero", organisation_id=organisation.pk, inbound_event_id=event.pk, entity_type="Invoice",
        entity_id="inv-9", operation="created", vendor_account="c2cc9b6e",
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    (copied,) = ExportConfirmation.objects.all()
    assert (copied.source, copied.entity_type, copied.entity_id, copied.operation, copied.inbound_event_id) == (
        "xero",
        "Invoice",
        "inv-9",
        "created",
        event.pk,
    )
    assert "webhooks_exportconfirmation" not in connection.introspection.table_names()

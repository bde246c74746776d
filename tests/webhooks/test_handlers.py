"""The handlers the webhooks family owns: accounting webhooks are recorded as export confirmations
and matched to the export that created the entity. ("New client" handlers belong to the families
that act on them: tests/crm/test_new_client.py, tests/monitoring/test_new_client.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webhooks import tasks
from webhooks.handlers import accounting
from webhooks.models import ExportConfirmation, InboundEvent
from wedsync_integrations.integrations import registry as kernel_registry
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import Family

from . import vendors
from .cases import PUBLIC, QBO_VERIFIER, XERO_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _public(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


# -- accounting -----------------------------------------------------------------------------------------
@pytest.fixture
def accounting_family():
    """Stand-in for the accounting exporter family that arrives later (shares our tables)."""
    family = Family(
        "accounting",
        "Accounting",
        config="webhooks.WebhookConfig",
        sync_log="webhooks.WebhookSyncLog",
        audit="webhooks.WebhookAuditEntry",
        retry="webhooks.WebhookRetryItem",
    )
    kernel_registry.register_family(family)
    yield family
    kernel_registry._families.pop("accounting", None)


def test_quickbooks_cloudevents_become_confirmations(post, organisation, webhook_config, eager_celery):
    webhook_config("quickbooks", organisation, QBO_VERIFIER, settings={"realm_id": "9130355"})
    body = vendors.as_json([
        {"specversion": "1.0", "id": "evt-1", "type": "qbo.bill.created.v1", "time": "2026-06-01T10:00:00Z",
         "intuitentityid": "145", "intuitaccountid": "9130355"},
        {"specversion": "1.0", "id": "evt-2", "type": "qbo.purchase.deleted.v1", "time": "2026-06-01T10:01:00Z",
         "intuitentityid": "77", "intuitaccountid": "9130355"},
    ])  # fmt: skip
    assert (
        post("quickbooks", "acme", body, {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)}).status_code
        == 200
    )
    rows = ExportConfirmation.objects.order_by("entity_id").values_list(
        "source", "entity_type", "entity_id", "operation", "vendor_account", "occurred_at"
    )
    assert list(rows) == [
        ("quickbooks", "Bill", "145", "created", "9130355", datetime(2026, 6, 1, 10, 0, tzinfo=UTC)),
        ("quickbooks", "Purchase", "77", "deleted", "9130355", datetime(2026, 6, 1, 10, 1, tzinfo=UTC)),
    ]


def test_quickbooks_legacy_notifications_become_confirmations(post, organisation, webhook_config, eager_celery):
    webhook_config("quickbooks", organisation, QBO_VERIFIER)
    body = vendors.as_json({"eventNotifications": [{"realmId": "9130355", "dataChangeEvent": {"entities": [
        {"name": "Bill", "id": "145", "operation": "Create", "lastUpdated": "2026-06-01T10:00:00.000Z"},
        {"name": "Purchase", "id": "9", "operation": "Void", "lastUpdated": "2026-06-01T11:00:00.000Z"},
    ]}}]})  # fmt: skip
    assert (
        post("quickbooks", "acme", body, {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)}).status_code
        == 200
    )
    assert sorted(InboundEvent.objects.values_list("event_type", flat=True)) == [
        "qbo.bill.created.v1",
        "qbo.purchase.voided.v1",
    ]
    assert sorted(ExportConfirmation.objects.values_list("entity_type", "entity_id", "operation")) == [
        ("Bill", "145", "created"),
        ("Purchase", "9", "voided"),
    ]


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


def test_a_confirmation_is_matched_to_the_export_that_created_the_entity(organisation, accounting_family):
    export = accounting_family.retry_model.objects.create(
        organisation=organisation, provider="quickbooks", operation="bill", payload={},
        state=RetryState.SUCCEEDED, result={"entity_type": "Bill", "entity_id": "145", "SyncToken": "0"},
    )  # fmt: skip
    event = InboundEvent.objects.create(
        source="quickbooks", organisation=organisation, event_type="qbo.bill.created.v1", external_id="evt-1",
        dedupe_key="k1",
        payload={"intuitentityid": "145", "intuitaccountid": "9130355", "time": "2026-06-01T10:00:00Z"},
    )  # fmt: skip
    seen = []
    accounting.export_confirmed.connect(lambda **kw: seen.append(kw["item"]), weak=False, dispatch_uid="t")
    try:
        assert accounting.record_confirmation(event) == f"Bill 145 created matched export #{export.pk}"
        assert accounting.record_confirmation(event)  # reprocessing is idempotent
    finally:
        accounting.export_confirmed.disconnect(dispatch_uid="t")
    confirmation = ExportConfirmation.objects.get()
    assert (confirmation.matched_family, confirmation.matched_item_id) == ("accounting", export.pk)
    assert seen == [export]


def test_confirmations_wait_for_the_accounting_family_and_match_later(organisation, make_organisation):
    event = InboundEvent.objects.create(
        source="xero", organisation=organisation, event_type="invoice.create", external_id="x", dedupe_key="k2",
        payload={"resourceId": "inv-9", "eventCategory": "INVOICE", "eventType": "CREATE"},
    )  # fmt: skip
    assert accounting.record_confirmation(event) == "Invoice inv-9 created (unmatched)"
    family = Family(
        "accounting",
        "Accounting",
        config="webhooks.WebhookConfig",
        sync_log="webhooks.WebhookSyncLog",
        audit="webhooks.WebhookAuditEntry",
        retry="webhooks.WebhookRetryItem",
    )
    kernel_registry.register_family(family)
    try:
        other = make_organisation(slug="other")
        family.retry_model.objects.create(organisation=other, provider="xero", operation="bill", payload={},
                                          state=RetryState.SUCCEEDED,
                                          result={"entity_type": "Invoice", "entity_id": "inv-9"})  # fmt: skip
        assert tasks.match_confirmations() == 0  # another organisation's export never matches
        mine = family.retry_model.objects.create(organisation=organisation, provider="xero", operation="bill",
                                                 payload={}, state=RetryState.SUCCEEDED,
                                                 result={"entity_type": "INVOICE", "entity_id": "inv-9"})  # fmt: skip
        assert tasks.match_confirmations() == 1  # what the hourly beat task runs
    finally:
        kernel_registry._families.pop("accounting", None)
    assert ExportConfirmation.objects.get().matched_item_id == mine.pk

"""On the real services (PostgreSQL, Redis, a Celery worker): a real worker turns signed ledger
webhooks into export confirmations, and picks up an event a dead worker left behind; two
month-end runs racing for one configuration queue its month once. Run by CI's second pass
(WEDSYNC_SERVICES=1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounting import exporter
from accounting.models import ExportConfirmation, MonthlyExport
from tests.services.conftest import SERVICES
from tests.webhooks import vendors
from tests.webhooks.cases import QBO_VERIFIER
from tests.webhooks.test_services import _in_threads, _wait_for, webhook_worker  # noqa: F401  (a worker)
from webhooks import processing, tasks
from webhooks.models import EventStatus, InboundEvent

from .conftest import NOW

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]


@pytest.mark.worker
def test_a_real_worker_processes_events_and_recovers_one_a_dead_worker_left(
    webhook_worker,  # noqa: F811
    organisation,
    webhook_config,
    settings,
):
    settings.WEBHOOK_DISPATCH = "immediate"
    webhook_config("quickbooks", organisation, QBO_VERIFIER)
    body = vendors.as_json([{"specversion": "1.0", "id": "evt-w1", "type": "qbo.bill.created.v1",
                             "intuitentityid": "501", "intuitaccountid": "9130355"}])  # fmt: skip
    response = Client().post(f"{vendors.API}/quickbooks/acme/", data=body, content_type="application/json",
                             headers={"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)})  # fmt: skip
    assert response.status_code == 200
    assert _wait_for(lambda: ExportConfirmation.objects.filter(entity_id="501").exists()), webhook_worker.log()
    assert InboundEvent.objects.get(external_id="evt-w1").status == EventStatus.PROCESSED

    # an event a worker claimed and then died with: its lease runs out, the sweeper re-publishes it
    body = vendors.as_json([{"specversion": "1.0", "id": "evt-w2", "type": "qbo.bill.created.v1",
                             "intuitentityid": "502", "intuitaccountid": "9130355"}])  # fmt: skip
    settings.WEBHOOK_DISPATCH = "sweeper"  # stored, nothing published
    Client().post(f"{vendors.API}/quickbooks/acme/", data=body, content_type="application/json",
                  headers={"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)})  # fmt: skip
    event = InboundEvent.objects.get(external_id="evt-w2")
    assert processing.claim(event.pk, timezone.now())  # a worker took it ... and died
    InboundEvent.objects.filter(pk=event.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert tasks.sweep() == 1
    assert _wait_for(lambda: ExportConfirmation.objects.filter(entity_id="502").exists()), webhook_worker.log()
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED and event.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_two_runs_racing_for_one_configuration_queue_the_month_once(ledger_config, add_usage, organisation,
                                                                    monkeypatch):  # fmt: skip
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    monkeypatch.setattr(exporter.outbox, "drain_pair", lambda *args, **kwargs: {})
    config = ledger_config("xero")
    add_usage(organisation, [(datetime(2026, 11, 14, 10, tzinfo=UTC), "openai", "email_template", "1", "0.79")])
    errors = []

    def run(_):
        try:
            exporter.export_months(type(config).objects.get(pk=config.pk), now=NOW)
        except Exception as exc:  # noqa: BLE001  (collected for the assertion)
            errors.append(exc)

    _in_threads(4, run)
    assert not errors
    assert MonthlyExport.objects.count() == 1 and config.family().retry_model.objects.count() == 1

"""Month-end planning and queueing (accounting/exporter.py, documents.py): every closed month from
`first_month` once, holds that say why, adjustments for late usage that never edit a posted
document, and `manage.py sync accounting`. Delivery is stubbed here (the providers' own tests and
the sandbox end-to-end tests send)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from freezegun import freeze_time

from accounting import exporter
from accounting.family import FAMILY
from accounting.models import MonthlyExport, Treatment
from accounting.months import Month
from wedsync_integrations.integrations.models import SyncOutcome
from wedsync_integrations.integrations.registry import validate_config_data
from wedsync_integrations.usage import pricing
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate

from .conftest import CLIENT, NOW, SETTINGS

pytestmark = pytest.mark.django_db
D = Decimal
NOV = datetime(2026, 11, 14, 10, tzinfo=UTC)
OCT = datetime(2026, 10, 14, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_delivery(monkeypatch):
    """Queue only: what was queued is what these tests look at."""
    monkeypatch.setattr(exporter.outbox, "drain_pair", lambda *args, **kwargs: {})


def logs(**filters):
    return list(FAMILY.sync_log_model.objects.filter(**filters).order_by("id").values_list("error", flat=True))


def test_every_closed_month_from_the_first_is_queued_once(ledger_config, add_usage, organisation):
    config = ledger_config("xero", first_month="2026-09")
    add_usage(organisation, [(OCT, "openai", "email_template", "1", "0.79"), (NOV, "anthropic", "contract", "2",
                                                                               "1.58")])  # fmt: skip
    add_usage(organisation, [(datetime(2026, 12, 2, 10, tzinfo=UTC), "openai", "email_template", "1", "0.79")])

    result = exporter.export_months(config, now=NOW)

    assert result.detail["months"] == {"2026-09": "no_usage", "2026-10": "export", "2026-11": "export"}
    exports = list(MonthlyExport.objects.order_by("month").values_list("reference", "net_gbp", "vat_gbp", "gross_gbp"))
    assert exports == [
        (f"WS-2610-{organisation.pk:06d}", D("0.79"), D("0.16"), D("0.95")),
        (f"WS-2611-{organisation.pk:06d}", D("1.58"), D("0.32"), D("1.90")),
    ]  # December is still open
    assert logs(detail__reason="no_usage") == ["no AI usage in September 2026: nothing to export"]
    again = exporter.export_months(config, now=NOW + timedelta(days=1))
    assert again.queued == 0 and MonthlyExport.objects.count() == 2  # nothing twice
    assert len(logs(detail__reason="no_usage")) == 1  # said once, not every day
    assert FAMILY.retry_model.objects.count() == 2


def test_without_first_month_the_export_starts_with_the_month_before_the_configuration(
    ledger_config, add_usage, organisation
):
    """As the CRMs: a ledger connected in December starts with November; earlier usage stays out."""
    with freeze_time(datetime(2026, 12, 1, 0, 30, tzinfo=UTC)):  # 1 December, London
        config = ledger_config("xero")
    settings = dict(config.settings)
    settings.pop("first_month")
    type(config).objects.filter(pk=config.pk).update(settings=settings)
    config.refresh_from_db()
    add_usage(organisation, [(OCT, "openai", "email_template", "1", "0.79"), (NOV, "openai", "email_template", "2",
                                                                               "1.58")])  # fmt: skip

    result = exporter.export_months(config, now=NOW)

    assert config.get_provider().first_month() == Month(2026, 11)
    assert result.detail["months"] == {"2026-11": "export"}


def test_a_month_waiting_for_an_exchange_rate_is_held_and_said_never_exported_as_zero(
    ledger_config, add_usage, organisation
):
    config = ledger_config("quickbooks")
    add_usage(organisation, [(NOV, "openai", "email_template", "1.000000", "0.790000"),
                             (NOV, "openai", "email_template", "2.000000", None)])  # fmt: skip

    result = exporter.export_months(config, now=NOW)

    assert result.queued == 0 and not MonthlyExport.objects.exists()
    (held,) = logs(outcome=SyncOutcome.SKIPPED, detail__reason="hold")
    assert held.startswith("November 2026 held: 1 request(s) of November 2026 still wait for a USD→GBP exchange rate")
    assert "never exported as 0" in held

    ExchangeRate.objects.create(date=datetime(2026, 11, 1).date(), rate=D("0.800000"), source="test")
    pricing.price_pending()  # the rate arrives: the record is priced and its hour re-rolled
    exporter.bring_rollups_up_to_date(organisation, [Month(2026, 11)], NOW)
    exporter.export_months(config, now=NOW)
    export = MonthlyExport.objects.get()
    assert export.net_gbp == D("2.39")  # 0.79 + 2 × 0.80: the pending cost, now known


def test_hours_still_dirty_are_rolled_up_before_the_month_is_read(ledger_config, add_usage, organisation):
    config = ledger_config("quickbooks")
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "0.79")], roll_up=False)
    exporter.export_months(config, now=NOW)
    assert MonthlyExport.objects.get().net_gbp == D("0.79")


def test_late_usage_goes_out_as_an_adjustment_referencing_the_month(ledger_config, add_usage, organisation):
    config = ledger_config("xero")
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "10.004"), (NOV, "anthropic", "contract", "1",
                                                                                 "5.003")])  # fmt: skip
    exporter.export_months(config, now=NOW)
    original = MonthlyExport.objects.get()
    assert original.net_gbp == D("15.01")  # 15.007 -> 15.01

    # the platform resends November usage after an ingest outage
    add_usage(organisation, [(NOV + timedelta(days=3), "openai", "email_template", "1", "2.501"),
                             (NOV + timedelta(days=3), "google", "email_template", "1", "0.500")])  # fmt: skip
    exporter.export_months(config, now=NOW + timedelta(days=1))

    original.refresh_from_db()
    adjustment = MonthlyExport.objects.get(sequence=1)
    assert original.net_gbp == D("15.01")  # never edited
    assert adjustment.reference == f"WS-2611-{organisation.pk:06d}-A1" and len(adjustment.reference) <= 21
    assert [(line["key"], line["net"], line["requests"]) for line in adjustment.lines] == [
        ("google", "0.50", 1),
        ("openai", "2.50", 1),
    ]
    # together the documents are the month's cost rounded to the penny: 18.008 -> 18.01
    total = MonthlyExport.objects.filter(month=original.month).aggregate(net=Sum("net_gbp"))["net"]
    independent = AIUsageRecord.objects.filter(organisation=organisation).aggregate(gbp=Sum("cost_gbp"))["gbp"]
    assert total == independent.quantize(D("0.01")) == D("18.01")
    document = FAMILY.retry_model.objects.get(pk=adjustment.retry_item_id).payload["document"]
    assert document["original_reference"] == original.reference
    assert document["date"] == "2026-12-08"  # made today: November's VAT period may be locked by now
    assert f"adjustment 1 to {original.reference}" in document["memo"]


def test_a_fraction_of_a_penny_of_late_usage_waits_until_it_makes_a_penny(ledger_config, add_usage, organisation):
    config = ledger_config("xero")
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "1.000000")])
    exporter.export_months(config, now=NOW)
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "0.004000")])
    assert exporter.export_months(config, now=NOW).detail["months"] == {"2026-11": "up_to_date"}
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "0.003000")])  # 1.007 -> 1.01
    exporter.export_months(config, now=NOW)
    assert MonthlyExport.objects.get(sequence=1).net_gbp == D("0.01")


def test_a_month_whose_cost_went_down_is_held_and_staff_are_told(ledger_config, add_usage, organisation, notices):
    config = ledger_config("quickbooks")
    (record,) = add_usage(organisation, [(NOV, "openai", "email_template", "1", "5.00")])
    exporter.export_months(config, now=NOW)
    record.delete()  # by hand, after the month was exported
    exporter.bring_rollups_up_to_date(organisation, [Month(2026, 11)], NOW)
    from wedsync_integrations.usage.models import RollupDirtyHour

    RollupDirtyHour.objects.create(organisation=organisation, hour=NOV)
    exporter.export_months(config, now=NOW)
    assert MonthlyExport.objects.count() == 1
    (notice,) = [n for n in notices if n.key.startswith("accounting:decreased")]
    assert "needs a credit note" in notice.title and "not sent automatically" in notice.description


def test_the_document_follows_the_organisations_vat_registration_unless_the_setting_says(
    ledger_config, add_usage, organisation
):
    organisation.vat_registered, organisation.vat_number = True, "GB123456782"
    organisation.save()
    config = ledger_config("quickbooks", vat_registered=None)
    config.settings.pop("vat_registered")
    config.save()
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "5.00")])
    exporter.export_months(config, now=NOW)
    assert MonthlyExport.objects.get().treatment == Treatment.STANDARD


def test_nothing_closed_yet_is_said(ledger_config):
    config = ledger_config("quickbooks", first_month="2026-12")
    exporter.export_months(config, now=NOW)
    assert logs(detail__reason="not_closed") == ["nothing to export yet: December 2026 closes on 03 Jan 2027"]


def test_manage_py_sync_accounting_exports_per_organisation_and_provider(ledger_config, add_usage, organisation,
                                                                         make_organisation, make_config):  # fmt: skip
    ledger_config("quickbooks")
    ledger_config("xero")
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "0.79")])
    out = io.StringIO()
    with freeze_time(NOW):
        call_command("sync", "accounting", "--org", organisation.slug, "--provider", "xero", stdout=out)
        assert MonthlyExport.objects.get().provider == "xero"
        assert "acme · xero: ok: queued 1" in out.getvalue()
        call_command("sync", "accounting", stdout=io.StringIO())
    assert sorted(MonthlyExport.objects.values_list("provider", flat=True)) == ["quickbooks", "xero"]


def test_the_daily_month_end_reads_every_organisation_at_once_and_queues_each_month_once(
    ledger_config, add_usage, organisation, make_organisation, make_config, django_assert_max_num_queries
):
    from tests.kernel.credential_providers import fresh_credential

    from .conftest import CLIENT, freshbooks_settings

    ledger_config("quickbooks")
    ledger_config("xero")
    other = make_organisation()
    make_config("accounting", other, "freshbooks", settings=freshbooks_settings(first_month="2026-10"),
                secrets=dict(CLIENT), credential=fresh_credential())  # fmt: skip
    add_usage(organisation, [(NOV, "openai", "email_template", "1", "0.79")])
    add_usage(other, [(OCT, "openai", "email_template", "1", "1.00"), (NOV, "google", "email_template", "1", None)])

    counts = exporter.month_end(now=NOW, drain=False)

    assert counts == {"configurations": 3, "queued": 3, "held": 1}
    assert sorted(MonthlyExport.objects.values_list("organisation_id", "provider", "month")) == sorted([
        (organisation.pk, "quickbooks", date(2026, 11, 1)), (organisation.pk, "xero", date(2026, 11, 1)),
        (other.pk, "freshbooks", date(2026, 10, 1)),
    ])  # fmt: skip
    assert logs(detail__reason="hold") == [
        "November 2026 held: 1 request(s) of November 2026 still wait for a USD→GBP exchange rate, so the "
        "month's GBP cost is incomplete (a pending cost is never exported as 0)"
    ]
    with django_assert_max_num_queries(25):  # nothing to queue: the reads, whatever the number of organisations
        assert exporter.month_end(now=NOW, drain=False)["queued"] == 0


@pytest.mark.parametrize(
    ("vendor", "document", "needed"),
    [("quickbooks", "purchase", "payment_account_id"), ("xero", "spend", "bank_account_code")],
)
def test_a_paid_document_is_refused_without_the_account_it_was_paid_from(vendor, document, needed):
    provider_cls = FAMILY.provider(vendor)
    errors = validate_config_data(provider_cls, SETTINGS[vendor](document=document), CLIENT, partial_secrets=False)
    assert list(errors) == [f"settings.{needed}"]
    assert validate_config_data(provider_cls, SETTINGS[vendor](), CLIENT, partial_secrets=False) == {}

"""The demo's ledgers (demo/integrations.json, run_demo): one organisation connected to each of
QuickBooks, Xero and FreshBooks through the sandbox's OAuth playground, and last month's AI costs
in each sandbox ledger after a sync — standard rate, reverse charge and not VAT registered."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from accounting.models import MonthlyExport, Treatment
from wedsync_integrations.core.management.commands import run_demo
from wedsync_integrations.integrations.models import ConfigStatus, CredentialStatus
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.tasks import syncable_configs
from wedsync_integrations.tenants.models import Organisation

from .conftest import NOW, control

pytestmark = pytest.mark.django_db


@freeze_time(NOW)
def test_the_demo_connects_a_ledger_at_each_vendor_and_exports_last_month(sandbox, add_usage, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "localhost"]
    command = run_demo.Command(stdout=io.StringIO())
    command._apply_demo_integrations(sandbox.url)
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    for slug in ("cotswold-lens", "willow-barn", "petal-and-stem"):
        add_usage(Organisation.objects.get(slug=slug), [(at, "openai", "email_template", "2.50", "1.975000"),
                                                        (at + timedelta(hours=1), "google", "form_generation",
                                                         "0.40", "0.316000")])  # fmt: skip

    command._connect_demo_ledgers(sandbox.url)
    assert "Demo ledgers connected to the sandbox: 3" in command.stdout.getvalue()
    family = get_family("accounting")
    for config in syncable_configs(family):
        family.sync_handler(config)

    exports = {e.organisation.slug: e for e in MonthlyExport.objects.select_related("organisation")}
    assert {slug: (e.provider, e.treatment, str(e.amount_sent_gbp)) for slug, e in exports.items()} == {
        "cotswold-lens": ("quickbooks", Treatment.STANDARD, "2.29"),
        "willow-barn": ("xero", Treatment.REVERSE_CHARGE, "2.29"),
        "petal-and-stem": ("freshbooks", Treatment.NO_VAT, "2.74"),  # gross: not registered, WedSync charges VAT
    }  # fmt: skip
    for vendor in ("quickbooks", "xero", "freshbooks"):
        assert len(control(sandbox, "GET", f"/{vendor}/__ledger")["documents"]) == 1
    assert all(config.credential_status == CredentialStatus.CONNECTED for config in family.config_model.objects.all())


@freeze_time(NOW)
def test_a_ledger_stopped_for_want_of_a_connection_carries_on_after_the_next_start(sandbox, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "localhost"]
    command = run_demo.Command(stdout=io.StringIO())
    command._apply_demo_integrations(sandbox.url)
    config = get_family("accounting").config_model.objects.get(provider="xero")
    config.stop("reconnect needed: the previous sandbox forgot its grant")
    type(config).objects.filter(pk=config.pk).update(credential_status=CredentialStatus.RECONNECT)

    command._connect_demo_ledgers(sandbox.url)

    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE

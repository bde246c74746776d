"""VAT registration threshold watch (accounting.watch_vat_threshold, daily at 07:00 London).

An organisation that is not VAT registered must register once its taxable turnover over a
rolling twelve months passes the threshold (£90,000 since 1 April 2024; ACCOUNTING_VAT_THRESHOLD_GBP).
Its turnover is read from its own ledger's profit-and-loss report (the income section over the
last twelve whole London months: QuickBooks `reports/ProfitAndLoss`, Xero `Reports/ProfitAndLoss`;
FreshBooks is not read, its report's shape being undocumented). Reverse-charged services bought from
abroad count towards an unregistered business's taxable turnover (HMRC VATPOSS14700), so the AI
usage its overseas providers billed it in those months is added.

At each of ACCOUNTING_VAT_THRESHOLD_WARN_PERCENTS (80 and 100 %) staff are told, once per
organisation (the alert's severity rises at 100 %); below them, or once registered, the alert
resolves. Each reading is kept in the sync log.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.integrations.models import SyncOutcome
from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention
from wedsync_integrations.integrations.tasks import syncable_configs

from .family import FAMILY
from .models import MonthlyExport
from .months import rolling_twelve_months
from .vat import OVERSEAS_PROVIDER, PENNY, half_up

logger = logging.getLogger("wedsync.accounting.threshold")


def notice_key() -> str:
    return "accounting:vat-threshold"


def watch_all(now: datetime | None = None) -> int:
    """Check every organisation with an accounting configuration; returns how many were read."""
    now = now or timezone.now()
    by_organisation: dict[int, list] = {}
    for config in syncable_configs(FAMILY).select_related("organisation").order_by("organisation_id", "provider"):
        by_organisation.setdefault(config.organisation_id, []).append(config)
    return sum(watch(configs, now) for configs in by_organisation.values())


def watch(configs: list, now: datetime) -> bool:
    """Read one organisation's turnover from the first of its ledgers able to give it."""
    providers = [config.get_provider() for config in configs]
    organisation = configs[0].organisation
    if all(provider.vat_registered() for provider in providers):
        attention_over(FAMILY, notice_key(), organisation)
        return False
    first, last = rolling_twelve_months(now)
    for provider in providers:
        try:
            turnover = provider.taxable_turnover(first, last)  # network: outside any transaction
        except IntegrationError as exc:
            _log(provider, now, SyncOutcome.FAILED, f"profit and loss not read: {provider.redact(exc.message)}", {})
            continue
        if turnover is not None:
            judge(provider, turnover, first, last, now)
            return True
    return False


def judge(provider, ledger_turnover: Decimal, first, last, now: datetime) -> None:
    organisation = provider.organisation
    overseas = MonthlyExport.objects.filter(
        organisation=organisation, supply=OVERSEAS_PROVIDER, month__gte=first, month__lte=last
    ).aggregate(total=Sum("net_gbp"))["total"] or Decimal(0)
    overseas = overseas.quantize(PENNY)  # SQLite's SUM drops a decimal's places
    turnover = ledger_turnover + overseas
    threshold = settings.ACCOUNTING_VAT_THRESHOLD_GBP
    percent = half_up(turnover * 100 / threshold)
    reached = [level for level in sorted(settings.ACCOUNTING_VAT_THRESHOLD_WARN_PERCENTS) if percent >= level]
    detail = {
        "turnover": str(turnover), "ledger_income": str(ledger_turnover), "overseas_services": str(overseas),
        "threshold": str(threshold), "percent": str(percent), "from": first.isoformat(), "to": last.isoformat(),
    }  # fmt: skip
    period = f"{first:%d %b %Y} to {last:%d %b %Y}"
    _log(provider, now, SyncOutcome.SUCCESS, "", detail)
    if not reached:
        attention_over(FAMILY, notice_key(), organisation)
        return
    level = reached[-1]
    over = level >= 100
    need_attention(FAMILY, Notice(
        key=notice_key(),
        title=(f"{organisation} has passed the VAT registration threshold" if over
               else f"{organisation} is at {percent}% of the VAT registration threshold"),
        description=(f"Taxable turnover {period}: £{turnover:,} (income in {provider.label} £{ledger_turnover:,}"
                     f" + overseas AI services £{overseas:,}) against the £{threshold:,} threshold ({percent}%)."),
        severity="high" if over else "medium",
        organisation=organisation,
        impact=("it must register for VAT within 30 days of the end of the month it passed the threshold" if over
                else "it will have to register for VAT if its turnover keeps growing"),
        recovery_actions=(("Tell the organisation to register for VAT with HMRC now",) if over
                          else ("Tell the organisation it is approaching the VAT registration threshold",)),
        details=detail,
    ))  # fmt: skip


def _log(provider, now: datetime, outcome: str, message: str, detail: dict) -> None:
    FAMILY.sync_log_model.objects.create(
        organisation=provider.organisation, provider=provider.name, operation="vat_threshold", started_at=now,
        finished_at=timezone.now(), outcome=outcome, error=message, detail=detail,
    )  # fmt: skip
    logger.info("accounting.vat_threshold org=%s provider=%s %s %s", provider.organisation.slug, provider.name,
                outcome, detail.get("percent", message))  # fmt: skip

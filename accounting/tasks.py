"""Celery tasks of the accounting family. Each is idempotent: a month is queued once (row lock and
a unique export per organisation, provider, month and sequence), whatever runs it."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounting.month_end", ignore_result=True)
def month_end() -> dict[str, int]:
    """Queue every closed month not yet exported, for every configuration, then drain (beat, daily)."""
    from .exporter import month_end as run

    return run()


@shared_task(name="accounting.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    """Read recent exports back from the ledgers and compare (beat, nightly)."""
    from .reconcile import reconcile_all

    return reconcile_all()


@shared_task(name="accounting.match_confirmations", ignore_result=True)
def match_confirmations(limit: int = 1000) -> int:
    """Match ledger confirmations that arrived before their export's answer (beat, hourly)."""
    from .confirmations import match_unmatched

    return match_unmatched(limit)


@shared_task(name="accounting.watch_vat_threshold", ignore_result=True)
def watch_vat_threshold() -> int:
    """Warn unregistered organisations approaching the VAT registration threshold (beat, daily)."""
    from .threshold import watch_all

    return watch_all()

"""Celery tasks of the accounting family (the month-end export itself runs through the kernel's
integrations.sync_family / drain_family fan-out). Each is idempotent."""

from __future__ import annotations

from celery import shared_task


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

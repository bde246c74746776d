"""Celery tasks of the usage app. Beat runs `usage.update_rollups` every minute (schedule
installed by migration 0003) and the exchange-rate tasks below (declared in usage/apps.py);
all editable in admin under Periodic tasks."""

from __future__ import annotations

from celery import shared_task

from .pricing import check_waiting, fetch_feed
from .pricing import price_pending as _price_pending
from .rollup import update_rollups as _update_rollups


@shared_task(name="usage.update_rollups", ignore_result=True)
def update_rollups() -> dict:
    # Idempotent and incremental: a duplicate delivery recomputes nothing that is not dirty,
    # and overlapping runs give way to the one holding the rollup lock.
    return _update_rollups().as_dict()


@shared_task(name="usage.price_pending", ignore_result=True)
def price_pending() -> dict:
    """Price records that arrived before their exchange rate (queued when a rate is added; beat
    also runs it every five minutes as a safety net)."""
    return _price_pending().as_dict()


@shared_task(name="usage.fetch_exchange_rates", ignore_result=True)
def fetch_exchange_rates() -> dict:
    """Hourly: import EXCHANGE_RATE_FEED_URL (Bank of England CSV shape) when it is set."""
    result = fetch_feed()
    return {} if result is None else {"created": result.created, "updated": result.updated}


@shared_task(name="usage.check_pending_rates", ignore_result=True)
def check_pending_rates() -> dict:
    """Every five minutes: alert when usage has waited too long for a rate (one alert)."""
    return check_waiting()

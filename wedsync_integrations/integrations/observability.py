"""The kernel's own figures on /metrics: outbox (retry queue) items per family, provider and state,
counted in the database at scrape time so every process reports the same truth."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .registry import families
from .states import RetryState


class OutboxCollector(Collector):
    """Pending and dead outbox items per family and provider."""

    def describe(self):
        return []  # no database query at registration time

    def collect(self):
        gauge = GaugeMetricFamily(
            "wedsync_outbox_items",
            "Outbox (retry queue) items by family, provider and state.",
            labels=["family", "provider", "state"],
        )
        for family in families():
            rows = (
                family.retry_model.objects.exclude(state=RetryState.SUCCEEDED)
                .values("provider", "state")
                .annotate(n=Count("id"))
                .order_by()
            )
            for row in rows:
                gauge.add_metric([family.name, row["provider"], row["state"]], row["n"])
        yield gauge


OUTBOX_COLLECTOR = OutboxCollector()

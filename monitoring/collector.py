"""The Prometheus view of the metric set: a prometheus_client custom collector over the rollups.

It keeps no state in the process: every scrape reads the database, so each gunicorn worker (and
the Pushgateway push) answers the same thing. A scrape costs a fixed number of queries however
many series it returns: organisations, today's totals, the last finished hour's percentiles,
today's weddings and their regions, then three per integration family (export outcomes, queue
depth, configured integrations) and one cache round trip for every circuit.

Counters count from 00:00 UTC of the current day, including the hour in progress (rollups are
incremental, so they only grow); at midnight they restart like a restarted process, which
rate() and increase() handle. `wedsync_ai_metrics_window_start_timestamp_seconds` says when the
current window began. Percentile quantiles are those of the last finished hour; gauges
(cost per request, success rate, weddings assisted) are over today so far.

Names follow Prometheus conventions: dots become underscores, base units in the name
(`_seconds`, `_gbp`), counters end in `_total`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, Max, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from wedsync_integrations import calendar
from wedsync_integrations.integrations.breaker import CircuitBreaker
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import families
from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import RollupWedding, UsageRollup

from .metrics import CIRCUIT_STATE_VALUES, CONTEXT, HOUR, SERVICE, UNKNOWN_REGION, floor_hour, weddings_and_regions

COMMON_LABELS = ["service", "env", "region", "season", "context", "org"]
SERIES_LABELS = [*COMMON_LABELS, "provider", "feature", "model"]
INTEGRATION_LABELS = [*COMMON_LABELS, "family", "integration"]


class AIMetricsCollector(Collector):
    """The AI metrics of some organisations (None: every active one), read at collect() time."""

    def __init__(self, organisation_ids: list[int] | None = None, *, now: datetime | None = None):
        self.organisation_ids = organisation_ids
        self.now = now

    def describe(self):
        return []  # nothing to learn at registration time: no query until a scrape

    def collect(self):
        now = self.now or timezone.now()
        day_start = floor_hour(now).replace(hour=0)
        organisations = Organisation.objects.filter(is_active=True)
        if self.organisation_ids is not None:
            organisations = organisations.filter(pk__in=self.organisation_ids)
        slugs = dict(organisations.values_list("pk", "slug"))
        weddings, regions = _weddings_today(slugs, day_start)
        season = str(calendar.season(now))
        env = settings.ENVIRONMENT_NAME
        common = {
            org_id: [SERVICE, env, regions.get(org_id, UNKNOWN_REGION), season, CONTEXT, slug]
            for org_id, slug in slugs.items()
        }
        yield from _usage_families(slugs, common, day_start, floor_hour(now) - HOUR)
        assisted = GaugeMetricFamily(
            "wedsync_ai_weddings_assisted", "Distinct weddings AI helped today (UTC).", labels=COMMON_LABELS
        )
        for org_id in sorted(slugs):
            assisted.add_metric(common[org_id], weddings.get(org_id, 0))
        yield assisted
        yield from _integration_families(slugs, common, day_start, now)
        window = GaugeMetricFamily(
            "wedsync_ai_metrics_window_start_timestamp_seconds",
            "Start of the window the AI counters count from (00:00 UTC today).",
        )
        window.add_metric([], day_start.timestamp())
        yield window


def _weddings_today(slugs: dict[int, str], day_start: datetime) -> tuple[dict[int, int], dict[int, str]]:
    keys: dict[int, set[str]] = defaultdict(set)  # a wedding helped in several hours counts once
    for org_id, key in RollupWedding.objects.filter(organisation_id__in=list(slugs), hour__gte=day_start).values_list(
        "organisation_id", "wedding_key"
    ):
        keys[org_id].add(key)
    return weddings_and_regions(keys)


def _usage_families(slugs, common, day_start: datetime, last_finished: datetime):
    requests = CounterMetricFamily("wedsync_ai_requests_total", "AI requests served.", labels=SERIES_LABELS)
    errors = CounterMetricFamily("wedsync_ai_errors_total", "AI requests that failed.", labels=SERIES_LABELS)
    tokens = CounterMetricFamily("wedsync_ai_tokens_total", "Prompt plus completion tokens.", labels=SERIES_LABELS)
    cost = CounterMetricFamily("wedsync_ai_cost_gbp_total", "AI cost in GBP.", labels=SERIES_LABELS)
    unpriced = GaugeMetricFamily(
        "wedsync_ai_unpriced_requests",
        "AI requests today whose GBP cost awaits a USD to GBP exchange rate "
        "(their series is absent from the GBP metrics).",
        labels=SERIES_LABELS,
    )
    wedding_requests = CounterMetricFamily(
        "wedsync_ai_wedding_requests_total", "AI requests tied to a wedding.", labels=SERIES_LABELS
    )
    latency = SummaryMetricFamily(
        "wedsync_ai_response_time_seconds",
        "AI response time; quantiles over the last finished hour.",
        labels=SERIES_LABELS,
    )
    cost_per_request = GaugeMetricFamily(
        "wedsync_ai_cost_per_request_gbp", "AI cost per request today, GBP.", labels=SERIES_LABELS
    )
    success_rate = GaugeMetricFamily(
        "wedsync_ai_success_rate_percent", "Share of AI requests that succeeded today, percent.", labels=SERIES_LABELS
    )
    rollups = UsageRollup.objects.filter(organisation_id__in=list(slugs), hour__gte=day_start)
    quantiles = {
        (row[0], row[1], row[2], row[3]): (row[4], row[5])
        for row in rollups.filter(hour=last_finished).values_list(
            "organisation_id", "provider", "feature", "model", "latency_p50_ms", "latency_p95_ms"
        )
    }
    totals = (
        rollups.values("organisation_id", "provider", "feature", "model")
        .annotate(
            n=Sum("requests"),
            failed=Sum("errors"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            gbp=Sum("cost_gbp"),
            unpriced=Sum("unpriced_requests"),
            wedding=Sum("wedding_requests"),
            latency_ms=Sum("latency_sum_ms"),
            latest=Max("hour"),
        )
        .order_by("organisation_id", "provider", "feature", "model")
    )
    for row in totals:
        org_id = row["organisation_id"]
        labels = [*common[org_id], row["provider"], row["feature"], row["model"]]
        n, failed, gbp = row["n"], row["failed"], float(row["gbp"])
        requests.add_metric(labels, n)
        errors.add_metric(labels, failed)
        tokens.add_metric(labels, row["tokens"])
        # while any request of the series waits for an exchange rate its GBP is unknown: the series
        # is left out of the GBP metrics (never a zero or a part posing as the total) and counted here
        gbp_known = not row["unpriced"]
        if gbp_known:
            cost.add_metric(labels, gbp)
        else:
            unpriced.add_metric(labels, row["unpriced"])
        wedding_requests.add_metric(labels, row["wedding"])
        percentiles = quantiles.get((org_id, row["provider"], row["feature"], row["model"]))
        if percentiles:
            label_map = dict(zip(SERIES_LABELS, labels, strict=True))
            for quantile, value in zip(("0.5", "0.95"), percentiles, strict=True):
                latency.samples.append(
                    Sample(latency.name, {**label_map, "quantile": quantile}, value / 1000.0, None, None)
                )
        latency.add_metric(labels, n, row["latency_ms"] / 1000.0)
        if gbp_known:
            cost_per_request.add_metric(labels, round(gbp / n, 6) if n else 0.0)
        success_rate.add_metric(labels, round(100.0 * (n - failed) / n, 4) if n else 0.0)
    return [requests, errors, tokens, cost, unpriced, wedding_requests, latency, cost_per_request, success_rate]


def _integration_families(slugs, common, day_start: datetime, now: datetime):
    exports = CounterMetricFamily(
        "wedsync_integration_exports_total",
        "Integration vendor calls today (UTC) by outcome.",
        labels=[*INTEGRATION_LABELS, "outcome"],
    )
    depth = GaugeMetricFamily(
        "wedsync_integration_queue_depth", "Pending items in the retry queue.", labels=INTEGRATION_LABELS
    )
    circuit = GaugeMetricFamily(
        "wedsync_integration_circuit_state",
        "Circuit breaker per integration: 0 closed, 1 half-open, 2 open.",
        labels=INTEGRATION_LABELS,
    )
    org_ids = list(slugs)
    breakers, breaker_labels = [], []
    for family in families():
        logs = (
            family.sync_log_model.objects.filter(organisation_id__in=org_ids, started_at__gte=day_start)
            .values_list("organisation_id", "provider", "outcome")
            .annotate(n=Count("id"))
            .order_by("organisation_id", "provider", "outcome")
        )
        for org_id, provider, outcome, n in logs:
            exports.add_metric([*common[org_id], family.name, provider, outcome], n)
        pending = dict(
            ((org_id, provider), n)
            for org_id, provider, n in family.retry_model.objects.filter(
                organisation_id__in=org_ids, state=RetryState.PENDING
            )
            .values_list("organisation_id", "provider")
            .annotate(n=Count("id"))
            .order_by()
        )
        configured = family.config_model.objects.filter(organisation_id__in=org_ids).order_by(
            "organisation_id", "provider"
        )
        for org_id, provider in configured.values_list("organisation_id", "provider"):
            labels = [*common[org_id], family.name, provider]
            depth.add_metric(labels, pending.get((org_id, provider), 0))
            breakers.append(CircuitBreaker(family.name, org_id, provider))
            breaker_labels.append(labels)
    for labels, state in zip(breaker_labels, CircuitBreaker.states(breakers, now.timestamp()), strict=True):
        circuit.add_metric(labels, CIRCUIT_STATE_VALUES[state])
    return [exports, depth, circuit]

"""The monitoring metric set: what we export about AI usage, built from hourly rollups.

One *interval* is one finished UTC hour of one organisation (the rollup grain). Its samples:

per rollup series (tags: provider, feature, model)
    wedsync.ai.requests                  count   requests served
    wedsync.ai.errors                    count   requests that failed
    wedsync.ai.tokens                    count   prompt + completion tokens
    wedsync.ai.cost                      count   cost in GBP
    wedsync.ai.wedding_requests_per_hour gauge   requests tied to a wedding, in the hour
    wedsync.ai.response_time             gauge   mean latency, ms (New Relic: a summary, see Sample)
    wedsync.ai.response_time.p50         gauge   median latency, ms
    wedsync.ai.response_time.p95         gauge   95th percentile latency, ms
    wedsync.ai.response_time.max         gauge   slowest request, ms
    wedsync.ai.cost_per_request          gauge   GBP per request
    wedsync.ai.success_rate              gauge   percent of requests that succeeded
per organisation
    wedsync.ai.weddings_assisted         count   distinct weddings helped in the hour
per integration (tags: family, integration, outcome)
    wedsync.integrations.exports         count   vendor calls in the hour by outcome (SyncLog rows)

and a snapshot taken when the payload is built (not an hourly figure, so it carries its own
timestamp): wedsync.integrations.queue_depth and wedsync.integrations.circuit_state
(0 closed, 1 half-open, 2 open) per (family, integration).

Every sample also carries the interval's common tags: service:ai_architecture, env, region,
season (of that hour, London calendar), context:wedding_industry and org.

Region: rollups are not split by region, so an interval's region is the venue region of the
weddings assisted in that hour (the most frequent one), else "unknown".

Queries are bounded per call, whatever the number of hours or series: one for the rollups, one
for weddings, one for their regions, and one per integration family for the export counts.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.integrations.breaker import CircuitBreaker, CircuitState
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import families
from wedsync_integrations.tenants.models import Organisation, Wedding
from wedsync_integrations.usage.models import RollupWedding, UsageRollup

HOUR = timedelta(hours=1)
SERVICE = "ai_architecture"
CONTEXT = "wedding_industry"
UNKNOWN_REGION = "unknown"
CIRCUIT_STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
K = TypeVar("K")


class Kind(enum.StrEnum):
    COUNT = "count"  # a total over the interval: summed across time and tags
    GAUGE = "gauge"  # a level at a moment: averaged / last-value


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    description: str
    unit: str = ""  # a Datadog unit name, only where we are sure it is one


REQUESTS = Metric("wedsync.ai.requests", Kind.COUNT, "AI requests served.")
ERRORS = Metric("wedsync.ai.errors", Kind.COUNT, "AI requests that failed.")
TOKENS = Metric("wedsync.ai.tokens", Kind.COUNT, "Prompt plus completion tokens.")
COST = Metric("wedsync.ai.cost", Kind.COUNT, "AI cost in GBP.")
WEDDING_REQUESTS = Metric(
    "wedsync.ai.wedding_requests_per_hour", Kind.GAUGE, "AI requests tied to a wedding, per hour."
)
RESPONSE_TIME = Metric("wedsync.ai.response_time", Kind.GAUGE, "Mean AI response time.", "millisecond")
RESPONSE_TIME_P50 = Metric("wedsync.ai.response_time.p50", Kind.GAUGE, "Median AI response time.", "millisecond")
RESPONSE_TIME_P95 = Metric("wedsync.ai.response_time.p95", Kind.GAUGE, "95th percentile response time.", "millisecond")
RESPONSE_TIME_MAX = Metric("wedsync.ai.response_time.max", Kind.GAUGE, "Slowest AI response.", "millisecond")
COST_PER_REQUEST = Metric("wedsync.ai.cost_per_request", Kind.GAUGE, "AI cost per request in GBP.")
SUCCESS_RATE = Metric("wedsync.ai.success_rate", Kind.GAUGE, "Share of AI requests that succeeded.", "percent")
WEDDINGS_ASSISTED = Metric("wedsync.ai.weddings_assisted", Kind.COUNT, "Distinct weddings AI helped.")
EXPORTS = Metric("wedsync.integrations.exports", Kind.COUNT, "Integration vendor calls by outcome.")
QUEUE_DEPTH = Metric("wedsync.integrations.queue_depth", Kind.GAUGE, "Pending items in the retry queue.")
CIRCUIT = Metric("wedsync.integrations.circuit_state", Kind.GAUGE, "Circuit breaker: 0 closed, 1 half-open, 2 open.")

ALL_METRICS = (
    REQUESTS, ERRORS, TOKENS, COST, WEDDING_REQUESTS, RESPONSE_TIME, RESPONSE_TIME_P50, RESPONSE_TIME_P95,
    RESPONSE_TIME_MAX, COST_PER_REQUEST, SUCCESS_RATE, WEDDINGS_ASSISTED, EXPORTS, QUEUE_DEPTH, CIRCUIT,
)  # fmt: skip


@dataclass
class Sample:
    metric: Metric
    value: float
    tags: dict[str, str]
    # (count, sum, min, max) behind `value`, for vendors with a summary type (New Relic): unlike
    # a mean it aggregates correctly across hours and series. Its figures change only when the
    # request count does (records are only ever added), so it stays out of interval_digest.
    summary: tuple[int, float, float, float] | None = None


@dataclass
class Interval:
    """The samples of one organisation for one finished hour, or (hour=None) a snapshot at `at`."""

    organisation: Organisation
    hour: datetime | None
    at: datetime
    common: dict[str, str]
    samples: list[Sample] = field(default_factory=list)

    @property
    def is_snapshot(self) -> bool:
        return self.hour is None


# -- helpers -------------------------------------------------------------------------------------
def interval_digest(interval: Interval) -> str:
    """A short fingerprint of an interval's figures: the same hour rebuilt from unchanged rollups
    has the same digest, so its outbox items (keyed by it) are never written twice."""
    rows = sorted((s.metric.name, sorted(s.tags.items()), s.value) for s in interval.samples)
    text = repr((sorted(interval.common.items()), rows))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def common_tags(organisation: Organisation, at: datetime, region: str) -> dict[str, str]:
    return {
        "service": SERVICE,
        "env": settings.ENVIRONMENT_NAME,
        "region": region or UNKNOWN_REGION,
        "season": str(calendar.season(at)),
        "context": CONTEXT,
        "org": organisation.slug,
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def rollup_samples(row: UsageRollup) -> list[Sample]:
    """The samples of one rollup row (one provider/feature/model in one hour). The GBP samples are
    left out while any of its requests waits for an exchange rate (a pending cost is never sent as
    zero or as part of itself); once priced, the hour is restated with them (exporter.py)."""
    tags = {"provider": row.provider, "feature": row.feature, "model": row.model}
    requests, errors = row.requests, row.errors
    samples = [
        Sample(REQUESTS, requests, tags),
        Sample(ERRORS, errors, tags),
        Sample(TOKENS, row.prompt_tokens + row.completion_tokens, tags),
        Sample(WEDDING_REQUESTS, row.wedding_requests, tags),
        Sample(RESPONSE_TIME, round(_ratio(row.latency_sum_ms, requests), 3), tags, _latency_summary(row)),
        Sample(RESPONSE_TIME_P50, float(row.latency_p50_ms), tags),
        Sample(RESPONSE_TIME_P95, float(row.latency_p95_ms), tags),
        Sample(RESPONSE_TIME_MAX, float(row.latency_max_ms), tags),
        Sample(SUCCESS_RATE, round(100.0 * _ratio(requests - errors, requests), 4), tags),
    ]
    if row.gbp_known:
        cost = float(row.cost_gbp)
        samples += [Sample(COST, cost, tags), Sample(COST_PER_REQUEST, round(_ratio(cost, requests), 6), tags)]
    return samples


def _latency_summary(row: UsageRollup) -> tuple[int, float, float, float] | None:
    if not row.requests or row.latency_min_ms is None:  # None: rolled up before the minimum was kept
        return None
    return row.requests, float(row.latency_sum_ms), float(row.latency_min_ms), float(row.latency_max_ms)


def weddings_and_regions(keys_by_group: Mapping[K, Collection[str]]) -> tuple[dict[K, int], dict[K, str]]:
    """Per group of distinct wedding keys (RollupWedding.wedding_key): how many weddings, and the
    most frequent venue region among them (groups with no known region are left out). Ties are
    broken alphabetically, so a rebuilt payload is identical. One query, whatever the groups."""
    ids = {int(key) for keys in keys_by_group.values() for key in keys if key.isdigit()}
    region_of = dict(Wedding.objects.filter(pk__in=ids).exclude(region="").values_list("pk", "region"))
    regions = {}
    for group, keys in keys_by_group.items():
        counted = Counter(region_of[int(k)] for k in keys if k.isdigit() and int(k) in region_of)
        if counted:
            regions[group] = min(counted, key=lambda r: (-counted[r], r))
    return {group: len(keys) for group, keys in keys_by_group.items()}, regions


def _weddings_by_hour(organisation_id: int, hours: list[datetime]) -> tuple[dict, dict]:
    """Per hour: the distinct weddings assisted, and their most frequent venue region."""
    keys_by_hour: dict[datetime, list[str]] = defaultdict(list)
    for hour, key in RollupWedding.objects.filter(organisation_id=organisation_id, hour__in=hours).values_list(
        "hour", "wedding_key"
    ):
        keys_by_hour[hour].append(key)  # (organisation, hour, key) is unique
    return weddings_and_regions(keys_by_hour)


def _export_counts(organisation_id: int, start: datetime, end: datetime) -> dict[datetime, list[Sample]]:
    """Vendor calls per hour, family, integration and outcome, from every family's SyncLog."""
    samples: dict[datetime, list[Sample]] = defaultdict(list)
    for family in families():
        rows = (
            family.sync_log_model.objects.filter(
                organisation_id=organisation_id, started_at__gte=start, started_at__lt=end
            )
            .annotate(hour=TruncHour("started_at", tzinfo=UTC))
            .values("hour", "provider", "outcome")
            .annotate(n=Count("id"))
            .order_by("hour", "provider", "outcome")
        )
        for row in rows:
            tags = {"family": family.name, "integration": row["provider"], "outcome": row["outcome"]}
            samples[row["hour"]].append(Sample(EXPORTS, row["n"], tags))
    return samples


# -- the builders --------------------------------------------------------------------------------
def build_intervals(organisation: Organisation, hours: list[datetime]) -> list[Interval]:
    """The intervals of `organisation` for the given finished hours (empty hours are left out)."""
    if not hours:
        return []
    hours = sorted(hours)
    rows_by_hour: dict[datetime, list[UsageRollup]] = defaultdict(list)
    rollups = (
        UsageRollup.objects.filter(organisation=organisation, hour__in=hours)
        .order_by("hour", "provider", "feature", "model")
        .only(
            "hour", "provider", "feature", "model", "requests", "errors", "prompt_tokens", "completion_tokens",
            "cost_gbp", "unpriced_requests", "wedding_requests", "latency_sum_ms", "latency_p50_ms", "latency_p95_ms",
            "latency_min_ms",
            "latency_max_ms",
        )
    )  # fmt: skip
    for row in rollups:
        rows_by_hour[row.hour].append(row)
    weddings, regions = _weddings_by_hour(organisation.pk, hours)
    exports = _export_counts(organisation.pk, hours[0], hours[-1] + HOUR)
    intervals = []
    for hour in hours:
        samples = [sample for row in rows_by_hour.get(hour, ()) for sample in rollup_samples(row)]
        assisted = weddings.get(hour, 0)
        if assisted:
            samples.append(Sample(WEDDINGS_ASSISTED, assisted, {}))
        samples.extend(exports.get(hour, ()))
        if not samples:
            continue
        region = regions.get(hour, UNKNOWN_REGION)
        intervals.append(Interval(organisation, hour, hour, common_tags(organisation, hour, region), samples))
    return intervals


def integration_snapshot(organisation: Organisation, *, now: datetime | None = None) -> Interval:
    """Queue depth and circuit state of every integration the organisation has configured, now."""
    now = now or timezone.now()
    samples: list[Sample] = []
    for family in families():
        providers = sorted(
            family.config_model.objects.filter(organisation=organisation).values_list("provider", flat=True)
        )
        if not providers:
            continue
        depth = dict(
            family.retry_model.objects.filter(organisation=organisation, state=RetryState.PENDING)
            .values("provider")
            .annotate(n=Count("id"))
            .values_list("provider", "n")
            .order_by()
        )
        breakers = [CircuitBreaker(family.name, organisation.pk, provider) for provider in providers]
        states = CircuitBreaker.states(breakers, now.timestamp())
        for provider, state in zip(providers, states, strict=True):
            tags = {"family": family.name, "integration": provider}
            samples.append(Sample(QUEUE_DEPTH, depth.get(provider, 0), tags))
            samples.append(Sample(CIRCUIT, CIRCUIT_STATE_VALUES[state], tags))
    return Interval(organisation, None, now, common_tags(organisation, now, UNKNOWN_REGION), samples)

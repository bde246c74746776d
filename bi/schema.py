"""The columns every BI tool receives, declared once: Power BI's dataset, the Tableau extract, Looker's
reporting tables and the LookML views are all generated from these lists, so the tools can never
disagree on a name or a type.

Kinds decide the type in each tool and what the data-quality gates check (bi/gates.py):

    text, date, datetime, bool
    count    whole number >= 0
    amount   money (GBP/USD), Decimal rounded to 4 places (Power BI's Decimal scale), >= 0
    measure  a non-negative real number (hours, milliseconds)
    share    a percentage of a whole: 0-100
    change   a percentage change or return: any finite number
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

AMOUNT_PLACES = Decimal("0.0001")
NUMBER_KINDS = ("count", "amount", "measure", "share", "change")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = True  # must be present (not null) in every row
    description: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind in NUMBER_KINDS


def _c(name, kind, required=True, description=""):
    return Column(name, kind, required, description)


METRIC_COLUMNS: tuple[Column, ...] = (
    _c("row_key", "text", description="scope:period:start, unique per row"),
    _c("scope", "text", description="organisation or platform"),
    _c("organisation_slug", "text", description="the organisation, or 'platform'"),
    _c("organisation_name", "text"),
    _c("period", "text", description="day or month (London calendar)"),
    _c("period_start", "date"),
    _c("period_end", "date", description="first day after the period"),
    _c("season", "text", description="peak, shoulder or off_season"),
    _c("is_complete", "bool", description="the period has ended and all its usage is counted"),
    _c("as_of", "datetime", description="usage counted up to this instant"),
    _c("requests", "count"),
    _c("errors", "count"),
    _c("tokens", "count"),
    _c("ai_cost_gbp", "amount", description="monthly (or daily) AI cost"),
    _c("ai_cost_usd", "amount"),
    _c("cost_per_wedding_gbp", "amount", False),
    _c("value_generated_gbp", "amount"),
    _c("roi_percent", "change", False),
    _c("cost_trend_30d_percent", "change", False),
    _c("active_vendors", "count"),
    _c("vendors_total", "count"),
    _c("adoption_rate_percent", "share"),
    _c("weddings_ai_assisted", "count"),
    _c("wedding_requests", "count"),
    _c("efficiency_gain_hours", "measure"),
    _c("client_satisfaction_percent", "share", False),
    _c("peak_season_readiness_percent", "share", False),
    _c("capacity_utilisation_percent", "share", False),
    _c("seasonal_cost_variation_percent", "change", False),
    _c("uptime_percent", "share", False),
    _c("avg_response_ms", "measure", False),
    _c("error_rate_percent", "share", False),
    _c("staff_competitive_position", "text", False, "STAFF INPUT, not computed"),
    _c("staff_feature_parity_percent", "share", False, "STAFF INPUT, not computed"),
    _c("computed_at", "datetime"),
)

FEATURE_COLUMNS: tuple[Column, ...] = (
    _c("row_key", "text", description="the metrics row this breakdown belongs to"),
    _c("scope", "text"),
    _c("organisation_slug", "text"),
    _c("period", "text"),
    _c("period_start", "date"),
    _c("feature", "text"),
    _c("requests", "count"),
    _c("ai_cost_gbp", "amount"),
    _c("share_of_requests_percent", "share"),
)

TABLES = {"executive_metrics": METRIC_COLUMNS, "feature_usage": FEATURE_COLUMNS}


def amount(value) -> Decimal:
    return Decimal(value).quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP)


def metric_row(row, *, slug: str, name: str, staff=None) -> dict:
    """The exported values of one ExecutiveMetrics row, keyed by METRIC_COLUMNS names."""
    return {
        "row_key": row.row_key,
        "scope": "platform" if row.organisation_id is None else "organisation",
        "organisation_slug": slug,
        "organisation_name": name,
        "period": row.period,
        "period_start": row.period_start,
        "period_end": row.period_end,
        "season": row.season,
        "is_complete": row.is_complete,
        "as_of": row.as_of,
        "requests": row.requests,
        "errors": row.errors,
        "tokens": row.tokens,
        "ai_cost_gbp": amount(row.cost_gbp),
        "ai_cost_usd": amount(row.cost_usd),
        "cost_per_wedding_gbp": None if row.cost_per_wedding_gbp is None else amount(row.cost_per_wedding_gbp),
        "value_generated_gbp": amount(row.value_generated_gbp),
        "roi_percent": row.roi_percent,
        "cost_trend_30d_percent": row.cost_trend_30d_percent,
        "active_vendors": row.active_vendors,
        "vendors_total": row.vendors_total,
        "adoption_rate_percent": row.adoption_rate_percent,
        "weddings_ai_assisted": row.weddings_ai_assisted,
        "wedding_requests": row.wedding_requests,
        "efficiency_gain_hours": float(row.efficiency_gain_hours),
        "client_satisfaction_percent": row.client_satisfaction_percent,
        "peak_season_readiness_percent": row.peak_season_readiness_percent,
        "capacity_utilisation_percent": row.capacity_utilisation_percent,
        "seasonal_cost_variation_percent": row.seasonal_cost_variation_percent,
        "uptime_percent": row.uptime_percent,
        "avg_response_ms": row.avg_response_ms,
        "error_rate_percent": row.error_rate_percent,
        "staff_competitive_position": (staff.competitive_position or None) if staff else None,
        "staff_feature_parity_percent": float(staff.feature_parity_percent)
        if staff and staff.feature_parity_percent is not None
        else None,
        "computed_at": row.computed_at,
    }


def feature_rows(row, features, *, slug: str) -> list[dict]:
    total = sum(feature.requests for feature in features)
    return [
        {
            "row_key": row.row_key,
            "scope": "platform" if row.organisation_id is None else "organisation",
            "organisation_slug": slug,
            "period": row.period,
            "period_start": row.period_start,
            "feature": feature.feature,
            "requests": feature.requests,
            "ai_cost_gbp": amount(feature.cost_gbp),
            "share_of_requests_percent": round(100.0 * feature.requests / total, 4) if total else 0.0,
        }
        for feature in features
    ]

"""Alerts raised from the platform's own data: AI error rate per organisation.

The rate is read from the hourly UsageRollup rows (never the raw usage table) over the window
ending now, so it costs one aggregate query per run whatever the traffic. Thresholds are lower
in peak season and lower still in the wedding-day window (defaults and their environment
variables: ALERTS_ERROR_RATE_* in settings.py).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import UsageRollup

from . import lifecycle
from .models import ActionSource, Alert, AlertStatus, Severity


def error_rate_threshold(at: datetime) -> tuple[float, str]:
    """The threshold in force at `at` and why (the lowest applicable one wins)."""
    thresholds = settings.ALERTS_ERROR_RATE_THRESHOLDS
    candidates = [(thresholds["default"], "default")]
    if calendar.season(at) == calendar.Season.PEAK:
        candidates.append((thresholds["peak_season"], "peak season"))
    if calendar.is_wedding_day_mode(at):
        candidates.append((thresholds["wedding_day"], "wedding-day window"))
    return min(candidates)


ERROR_RATE_DEDUP_KEY = "monitoring:error_rate"


def check_error_rates(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    window = settings.ALERTS_ERROR_RATE_WINDOW
    threshold, why = error_rate_threshold(now)
    hour_floor = (now - window).replace(minute=0, second=0, microsecond=0)
    rows = (
        UsageRollup.objects.filter(hour__gte=hour_floor, hour__lte=now, organisation__is_active=True)
        .values("organisation_id")
        .annotate(requests=Sum("requests"), errors=Sum("errors"))
        .order_by()
    )
    rates = {row["organisation_id"]: (row["requests"], row["errors"]) for row in rows}
    raised = resolved = 0
    organisations = Organisation.objects.in_bulk(list(rates))
    for organisation_id, (requests, errors) in rates.items():
        if requests < settings.ALERTS_ERROR_RATE_MIN_REQUESTS:
            continue
        rate = errors / requests
        if rate >= threshold:
            severity = Severity.HIGH if rate >= 2 * threshold else Severity.MEDIUM
            lifecycle.raise_alert(
                organisation=organisations[organisation_id],
                title=f"AI error rate {rate:.0%} over the last hour",
                description=f"{errors} of {requests} AI requests failed since {hour_floor:%H:%M} UTC; "
                f"the threshold is {threshold:.0%} ({why}).",
                severity=severity,
                source="monitoring",
                kind="error_rate",
                dedup_key=ERROR_RATE_DEDUP_KEY,
                impact=f"{errors} failed AI requests in the last hour",
                details={"error_rate": round(rate, 4), "threshold": threshold, "requests": requests, "errors": errors},
                at=now,
            )
            raised += 1
    # Recovery: an open error-rate alert whose organisation is now under half the threshold
    # (or has no traffic left to fail) resolves itself.
    for alert in Alert.objects.filter(
        dedup_key=ERROR_RATE_DEDUP_KEY, status__in=[AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED]
    ):
        requests, errors = rates.get(alert.organisation_id, (0, 0))
        if not requests or errors / requests < threshold / 2:
            lifecycle.resolve(alert.pk, by="system:error-rate", via=ActionSource.AUTO, at=now)
            resolved += 1
    return {"threshold": threshold, "raised": raised, "resolved": resolved}

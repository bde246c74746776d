"""What a BI configuration receives, and the push every BI vendor shares.

A BI provider implements `build_payloads(changed_rows, changed_up_to)` (what goes in the outbox) and
`deliver()`. `push()` decides *what* and *whether*:

1. Under a row lock on the configuration's Destination, take the metrics rows of its scope that
   changed since the last push (`changed_at` after `queued_up_to`).
2. Judge the data-quality gates on the rows the tool would receive (the changed rows for Power BI,
   which appends; every row of the scope for Tableau and Looker, which replace everything). A failed
   gate queues nothing, moves nothing, is recorded (sync log, the Destination, admin) and raises one
   alert for the configuration (`signals.need_attention`, one key per configuration), resolved by
   the next push that passes.
3. Otherwise write the outbox items and advance `queued_up_to` in the same transaction (each change
   is queued exactly once, even when a scheduled run and `manage.py sync` race), then drain the
   (organisation, provider) queue in order.

Scope (setting `scope`): "organisation" (default) sends the configuration's own organisation; a
"platform" configuration (WedSync's executives) receives every organisation and the platform rows.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import BaseSettings, Provider, StrictSerializer, SyncResult
from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention

from . import gates
from .models import Destination, ExecutiveMetrics, RefreshState, scope_key_of
from .reporting import scope_rows

logger = logging.getLogger("wedsync.bi")

SCOPES = (("organisation", "the configuration's organisation"), ("platform", "every organisation and the platform"))


def scope_field():
    return serializers.ChoiceField(
        choices=SCOPES, required=False, default="organisation",
        help_text="organisation: this organisation's metrics; platform: every organisation and the platform",
    )  # fmt: skip


class BISettings(BaseSettings):
    """Settings of a BI vendor reached at `base_url`, plus the scope it receives."""

    scope = scope_field()


class ScopedSettings(StrictSerializer):
    """Settings of a BI vendor whose address is not a base_url (Tableau's server_url)."""

    scope = scope_field()


def gate_notice_key(config) -> str:
    return f"bi:gate:{config.pk}"


def jsonable(value):
    """A value as JSON carries it to the vendor: ISO dates, Decimals as numbers (4 places)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class BIProvider(Provider):
    """A BI vendor fed executive metrics."""

    operation: ClassVar[str] = "metrics"
    # True: the tool receives the scope's whole current state each time (Tableau, Looker)
    snapshot: ClassVar[bool] = False

    def scope_keys(self) -> list[str] | None:
        if self.settings.get("scope") == "platform":
            return None
        return [scope_key_of(self.organisation.pk)]

    def rows(self):
        return scope_rows(self.scope_keys())

    def build_payloads(self, changed_rows, *, changed_up_to: datetime) -> list[dict]:
        """The outbox payloads for the rows that changed (a queryset of ExecutiveMetrics)."""
        raise NotImplementedError

    # -- helpers for vendor modules ------------------------------------------------------------
    def current_rows_passing_gates(self) -> list[ExecutiveMetrics]:
        """Every row of the scope, re-judged now; a RetryableError if the gates fail (the push that
        queued the item judged them, but the metrics may have moved since)."""
        rows = list(self.rows())
        failures = gates.judge_push(rows, refreshed_as_of=RefreshState.get().as_of)
        if failures:
            raise RetryableError(f"{self.name}: data-quality gate failed, nothing sent: {'; '.join(failures[:3])}")
        return rows

    def received(self, summary: dict, *, vendor_object_id: str = "", vendor_object_name: str = "") -> None:
        """Record what the tool just received (admin's "last received")."""
        fields = {"last_received": summary, "last_received_at": timezone.now()}
        if vendor_object_id:
            fields.update(vendor_object_id=vendor_object_id, vendor_object_name=vendor_object_name)
        updated = Destination.objects.filter(config=self.config).update(**fields)
        if not updated:
            Destination.objects.get_or_create(config=self.config, defaults=fields)

    def destination(self) -> Destination:
        return Destination.objects.get_or_create(config=self.config)[0]


def push(provider: BIProvider, *, now: datetime | None = None) -> SyncResult:
    """Queue what changed for one configuration (if the gates pass), then drain its queue."""
    now = now or timezone.now()
    config = provider.config
    result = SyncResult()
    refreshed_as_of = RefreshState.get().as_of
    failures: list[str] = []
    with transaction.atomic():
        destination, _ = Destination.objects.select_for_update().get_or_create(config=config)
        rows = provider.rows()
        changed = rows.filter(changed_at__gt=destination.queued_up_to) if destination.queued_up_to else rows
        summary = changed.aggregate(count=Count("id"), up_to=Max("changed_at"))
        count, changed_up_to = summary["count"], summary["up_to"]
        if count:
            # judged in the database: a platform's history is millions of rows
            failures = gates.judge_push(
                rows if provider.snapshot else changed, now=now, refreshed_as_of=refreshed_as_of
            )
            destination.gate_passed, destination.gate_failures = not failures, failures[:200]
            destination.gate_checked_at = now
            if not failures:
                for index, payload in enumerate(provider.build_payloads(changed, changed_up_to=changed_up_to)):
                    outbox.enqueue(
                        config,
                        operation=provider.operation,
                        payload=payload,
                        dedupe_key=f"bi:{config.pk}:{changed_up_to.isoformat()}:{index}",
                    )
                    result.queued += 1
                destination.queued_up_to = changed_up_to
            destination.save()
    if failures:
        _gate_failed(provider, failures, count, now)
        result.skipped = count
        result.detail["gate_failures"] = failures[:20]
    elif count:
        attention_over(provider.family, gate_notice_key(config), organisation=config.organisation)
    counts = outbox.drain_pair(provider.family, config.organisation_id, config.provider)
    result.delivered = counts.get(RetryState.SUCCEEDED, 0)
    result.failed = counts.get(RetryState.DEAD, 0) + (counts.get(RetryState.PENDING, 0))
    result.detail["changed_rows"] = count
    return result


def _gate_failed(provider: BIProvider, failures: list[str], rows: int, now: datetime) -> None:
    config = provider.config
    checks = sorted({check for failure in failures for check in gates.CHECKS if f"{check}: " in failure})
    summary = f"data-quality gate failed ({', '.join(checks)}): nothing sent to {provider.label}"
    provider.family.sync_log_model.objects.create(
        organisation=config.organisation, provider=config.provider, operation="gate", started_at=now,
        finished_at=now, outcome=SyncOutcome.SKIPPED, items=rows,
        error=f"{summary}: {'; '.join(failures[:5])}"[:2000], detail={"gate_failures": failures[:200]},
    )  # fmt: skip
    need_attention(
        provider.family,
        Notice(
            key=gate_notice_key(config),
            title=f"BI push to {provider.label} blocked by a data-quality gate",
            description=f"{summary}. First failures: " + "; ".join(failures[:5]),
            severity="medium",
            organisation=config.organisation,
            impact=f"{provider.label} keeps the figures it had until the data passes the gates",
            recovery_actions=(
                "Open the BI configuration in admin: its gate status names each failing check",
                "rates: add the missing USD→GBP exchange rate (admin or manage.py exchange_rates import)",
                "stale: check that beat runs usage.update_rollups and bi.refresh_and_sync",
            ),
            details={"failures": failures[:50], "provider": config.provider},
        ),
    )
    logger.warning("bi.gate_failed config=%s provider=%s failures=%s", config.pk, config.provider, failures[:5])

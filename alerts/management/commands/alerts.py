"""`manage.py alerts …`: the staff-facing operations of the alerts family.

alerts test --org SLUG --severity critical   route and deliver a test alert now, in-process,
                                             and print each channel's outcome
alerts escalate                              run due escalations now (what beat does every 10 s)
alerts check-error-rates                     evaluate error-rate alerts now (beat: every 5 min)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from wedsync_integrations.tenants.models import Organisation

from ... import lifecycle, monitors, notify
from ...family import FAMILY
from ...models import Delivery, DeliveryStatus, Purpose, Severity
from ...outcomes import why_held

OK_STATES = {DeliveryStatus.SENT}


class Command(BaseCommand):
    help = "Alerts operations: send a test alert, run escalations, check error rates."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        test = sub.add_parser("test", help="Route and deliver a test alert in-process; print each channel's outcome.")
        test.add_argument("--org", required=True, help="organisation slug")
        test.add_argument("--severity", required=True, choices=Severity.values)
        test.add_argument("--title", default="", help="optional title (default: a test-alert title)")
        sub.add_parser("escalate", help="Escalate due unacknowledged alerts now.")
        sub.add_parser("check-error-rates", help="Raise or resolve error-rate alerts from usage rollups now.")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "test":
            return self._test(options)
        if action == "escalate":
            self.stdout.write(f"escalated {lifecycle.escalate_due()} alert(s)")
        elif action == "check-error-rates":
            result = monitors.check_error_rates()
            self.stdout.write(
                f"threshold {result['threshold']:.0%}: raised {result['raised']}, resolved {result['resolved']}"
            )

    def _test(self, options):
        organisation = Organisation.objects.filter(slug=options["org"]).first()
        if organisation is None:
            raise CommandError(f"no organisation with slug {options['org']!r}")
        now = timezone.now()
        title = options["title"] or f"Test alert from manage.py at {now:%Y-%m-%d %H:%M:%S} UTC"
        with transaction.atomic():
            result = lifecycle.raise_alert(
                organisation=organisation,
                title=title,
                severity=options["severity"],
                description="Sent by staff with `manage.py alerts test` to check every configured channel.",
                source="test",
                kind="test",
                dedup_key=f"test:{now.isoformat()}",
                impact="none: this is a test",
                at=now,
                is_test=True,
                dispatch=False,
            )
        alert = result.alert
        routing = alert.routing
        self.stdout.write(
            f"{alert.ref} for {organisation.slug}: severity {alert.severity} → {alert.effective_severity}; "
            f"routed to {', '.join(routing['channels']) or 'no channel'}"
            + (f" (muted: {routing['muted_by']})" if routing.get("muted_by") else "")
        )
        for reason in routing.get("reasons", []):
            self.stdout.write(f"  rule: {reason}")
        notify.deliver_now(result.pairs)
        failures = self._report(alert, routing["channels"])
        if failures:
            raise CommandError(f"{failures} channel(s) did not accept the test alert")

    def _report(self, alert, routed: list[str]) -> int:
        failures = 0
        items = {
            item.provider: item
            for item in FAMILY.retry_model.objects.filter(dedupe_key__startswith=f"alert:{alert.pk}:{Purpose.NOTIFY}:")
        }
        for channel in [*routed, *sorted(set(items) - set(routed))]:
            deliveries = list(Delivery.objects.filter(alert=alert, channel=channel).order_by("started_at", "id"))
            if not deliveries:
                item = items.get(channel)
                why = "not configured for this organisation" if item is None else self._not_attempted(item)
                self.stdout.write(self.style.WARNING(f"  {channel:<10} {why}"))
                failures += channel in items
                continue
            for delivery in deliveries:
                ok = delivery.status in OK_STATES
                failures += not ok
                detail = delivery.vendor_ref or delivery.response[:80] if ok else delivery.error[:200]
                line = (
                    f"  {channel:<10} {delivery.status:<9} {delivery.recipient[:40]:<40} "
                    f"{delivery.http_status or '-'} {delivery.duration_ms} ms  {detail}"
                )
                self.stdout.write(self.style.SUCCESS(line) if ok else self.style.ERROR(line))
        return failures

    @staticmethod
    def _not_attempted(item) -> str:
        """Why the test alert's item was not sent: what holds it back (outcomes.why_held, the
        reason the alert page and the message after acknowledging give too)."""
        config = FAMILY.config_model.objects.filter(
            organisation_id=item.organisation_id, provider=item.provider
        ).first()
        if config is None:
            return "not attempted: the configuration was deleted"
        held = why_held(config, before_item_id=item.pk)
        return f"not attempted: {held}" if held else "not attempted yet: due now, a worker sends it"

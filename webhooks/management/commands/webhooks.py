"""`manage.py webhooks reprocess …` and `manage.py webhooks sweep`, for operators.

    manage.py webhooks reprocess --status failed [--source pagerduty] [--org acme] [--since 2026-06-13]
    manage.py webhooks reprocess --ids 12 15 19
    manage.py webhooks sweep            # publish what the beat sweeper would (after a broker outage)

Reprocessing runs the events' handlers now, in this process, oldest first, and records an audit
entry per event, exactly like the admin action.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from wedsync_integrations import calendar
from wedsync_integrations.integrations import audit

from ... import processing, tasks
from ...family import FAMILY
from ...models import EventStatus, InboundEvent

MAX_EVENTS = 10_000


class Command(BaseCommand):
    help = "Reprocess stored inbound webhook events, or run the sweeper once."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        reprocess = sub.add_parser("reprocess", help="Run stored events through their handlers again.")
        reprocess.add_argument("--ids", nargs="+", type=int, help="these event ids")
        reprocess.add_argument("--status", choices=EventStatus.values, help="events in this status")
        reprocess.add_argument("--source", choices=sorted(FAMILY.providers))
        reprocess.add_argument("--org", help="organisation slug")
        reprocess.add_argument("--since", help="received on or after this London date (YYYY-MM-DD)")
        reprocess.add_argument("--dry-run", action="store_true", help="list what would be reprocessed")
        sub.add_parser("sweep", help="Publish due events now (what the beat sweeper does).")

    def handle(self, *args, **options):
        if options["action"] == "sweep":
            self.stdout.write(f"published {tasks.sweep(limit=MAX_EVENTS)} event(s)")
            return
        events = list(self._select(options)[: MAX_EVENTS + 1])
        if len(events) > MAX_EVENTS:
            raise CommandError(f"more than {MAX_EVENTS} events match: narrow the selection")
        if options["dry_run"] or not events:
            for event in events:
                self.stdout.write(f"#{event.pk} {event.source} {event.event_type} {event.status}")
            self.stdout.write(f"{len(events)} event(s) {'would be ' if events else ''}reprocessed")
            return
        totals = processing.reprocess(events)
        for event in events:
            audit.record(
                FAMILY,
                actor="cli:webhooks-reprocess",
                action="reprocess",
                target=event,
                organisation=event.organisation,
                summary=f"reprocessed #{event.pk} from the command line",
            )
        self.stdout.write(
            f"reprocessed {len(events)} event(s): " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
        )

    def _select(self, options):
        if not any(options.get(key) for key in ("ids", "status", "source", "org", "since")):
            raise CommandError("name the events: --ids, or at least one of --status/--source/--org/--since")
        events = InboundEvent.objects.select_related("organisation").order_by("id")
        if options.get("ids"):
            events = events.filter(pk__in=options["ids"])
        if options.get("status"):
            events = events.filter(status=options["status"])
        if options.get("source"):
            events = events.filter(source=options["source"])
        if options.get("org"):
            events = events.filter(organisation__slug=options["org"])
        if options.get("since"):
            day = parse_date(options["since"])
            if day is None:
                raise CommandError("--since must be a date, YYYY-MM-DD")
            events = events.filter(received_at__gte=calendar.london_day_bounds(day)[0])
        return events

"""`manage.py exchange_rates import FILE.csv | fetch | price | status`: USD→GBP rates and the usage
waiting for them.

    import FILE.csv   Bank of England database CSV (DATE, XUDLUSS = US $ per £1): upserts the
                      USD→GBP rates (all or nothing; a bad line is named) and prices pending usage
    fetch             the same from EXCHANGE_RATE_FEED_URL (what beat runs hourly)
    price             price pending usage with the rates already stored
    status            how many records wait for a rate, and the oldest
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min

from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.usage.models import AIUsageRecord
from wedsync_integrations.usage.pricing import RateFileError, fetch_feed, import_rates, parse_boe_csv, price_pending


class Command(BaseCommand):
    help = "Import USD→GBP exchange rates (Bank of England CSV) and price AI usage waiting for them."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        load = actions.add_parser("import", help="import a Bank of England XUDLUSS CSV file")
        load.add_argument("file", type=Path)
        actions.add_parser("fetch", help="import EXCHANGE_RATE_FEED_URL now")
        actions.add_parser("price", help="price pending usage with the stored rates")
        actions.add_parser("status", help="usage waiting for a rate")

    def handle(self, *args, action, **options):
        if action == "import":
            self._import(options["file"])
        elif action == "fetch":
            self._fetch()
        elif action == "price":
            self._report_pricing(price_pending())
        else:
            self._status()

    def _import(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}")
        try:
            rates = parse_boe_csv(text)
        except RateFileError as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported")
        self._report_import(import_rates(rates, source=f"file:{path.name}"))

    def _fetch(self) -> None:
        try:
            result = fetch_feed()
        except (IntegrationError, RateFileError) as exc:
            raise CommandError(f"fetching EXCHANGE_RATE_FEED_URL failed: {getattr(exc, 'message', exc)}")
        if result is None:
            raise CommandError("EXCHANGE_RATE_FEED_URL is not set")
        self._report_import(result)

    def _report_import(self, result) -> None:
        first, last = min(result.days), max(result.days)
        self.stdout.write(
            f"rates {first:%d %b %Y} to {last:%d %b %Y}: {result.created} added, {result.updated} changed, "
            f"{result.unchanged} unchanged"
        )
        self._report_pricing(result.pricing)

    def _report_pricing(self, pricing) -> None:
        self.stdout.write(
            f"usage priced: {pricing.priced} record(s) in {pricing.hours_marked} hour(s), queued for re-export; "
            f"{pricing.still_pending} still waiting for a rate"
        )

    def _status(self) -> None:
        pending = AIUsageRecord.objects.filter(cost_gbp__isnull=True)
        summary = pending.aggregate(oldest=Min("occurred_at"), since=Min("ingested_at"))
        count = pending.count()
        if not count:
            self.stdout.write("no usage is waiting for an exchange rate")
            return
        self.stdout.write(
            f"{count} record(s) wait for a USD→GBP rate; the earliest is dated {summary['oldest']:%Y-%m-%d %H:%M} UTC "
            f"and has waited since {summary['since']:%Y-%m-%d %H:%M} UTC"
        )

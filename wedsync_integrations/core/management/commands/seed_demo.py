"""`manage.py seed_demo`: demo tenants, weddings for the next 60 days and 30 days of AI usage."""

import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from wedsync_integrations.core import demo_data


class Command(BaseCommand):
    help = "Create demo organisations, weddings, exchange rates and 30 days of realistic AI usage (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="days of usage history (default 30, or from the start of last month)"
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same data)")

    def handle(self, *args, days, seed, **options):
        from wedsync_integrations.usage.rollup import mark_all_dirty, update_rollups

        bar = self._progress_bar()
        with transaction.atomic():
            stats = demo_data.seed(days=days, seed_value=seed, progress=bar.update if bar else None)
            # Committed with the records: if the rollup below is interrupted (Ctrl-C), beat's
            # rollup task finishes it, whereas a later run skips seeding and would never rebuild.
            mark_all_dirty()
        if bar:
            bar.close()
        self.stdout.write(
            f"Organisations: {stats['organisations']}  weddings added: {stats['weddings']}  "
            f"usage records added: {stats['records']}"
        )
        self.stdout.write("Building hourly rollups ...")
        update_rollups()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _progress_bar(self):
        if not sys.stdout.isatty() and not self.stdout.isatty():
            return None
        from tqdm import tqdm

        class Bar:
            def __init__(self):
                self._bar = tqdm(total=1, unit="h", desc="AI usage", leave=True)

            def update(self, done, total):
                self._bar.total = total
                self._bar.n = done
                self._bar.refresh()

            def close(self):
                self._bar.close()

        return Bar()

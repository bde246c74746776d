"""`manage.py sync FAMILY [--org SLUG] [--provider NAME]`: run a family's sync now, in this process.

For each matching enabled, not-stopped config the family's registered sync handler runs under
its own correlation id (printed, so its SyncLog rows can be found), with a progress bar on a
terminal and plain progress lines otherwise. One config failing never stops the others; the
command exits non-zero when any failed.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from wedsync_integrations.core.observability import correlation_scope
from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.integrations.registry import SyncResult, UnknownFamily, UnknownProvider, get_family
from wedsync_integrations.integrations.secrets import redact
from wedsync_integrations.integrations.tasks import syncable_configs
from wedsync_integrations.tenants.models import Organisation

logger = logging.getLogger("wedsync.sync")


class Command(BaseCommand):
    help = "Run one integration family's sync handler now for each matching enabled configuration."

    def add_arguments(self, parser):
        parser.add_argument("family", help="family name, e.g. monitoring")
        parser.add_argument("--org", help="only this organisation (slug)")
        parser.add_argument("--provider", help="only this provider, e.g. datadog")

    def handle(self, *args, **options):
        family = self._family(options["family"])
        configs = self._configs(family, options.get("org"), options.get("provider"))
        if not configs:
            self.stdout.write(
                f"nothing to sync: no enabled, running {family.name} configuration of an active organisation matches"
            )
            return
        failed = sum(not self._run(family, config) for config in configs)
        self.stdout.write(f"{len(configs) - failed} of {len(configs)} configuration(s) synced")
        if failed:
            raise CommandError(f"{failed} of {len(configs)} {family.name} sync(s) failed")

    # -- selection ---------------------------------------------------------------------------
    @staticmethod
    def _family(name: str):
        try:
            family = get_family(name)
        except UnknownFamily as exc:
            raise CommandError(str(exc))
        if family.sync_handler is None:
            raise CommandError(f"family {family.name!r} has no registered sync handler")
        return family

    @staticmethod
    def _configs(family, org_slug: str | None, provider: str | None) -> list:
        qs = syncable_configs(family).select_related("organisation").order_by("organisation__slug", "provider")
        if org_slug is not None:
            if not Organisation.objects.filter(slug=org_slug).exists():
                known = ", ".join(Organisation.objects.order_by("slug").values_list("slug", flat=True)) or "none"
                raise CommandError(f"unknown organisation {org_slug!r} (known: {known})")
            qs = qs.filter(organisation__slug=org_slug)
        if provider is not None:
            try:
                family.provider(provider)
            except UnknownProvider as exc:
                raise CommandError(str(exc))
            qs = qs.filter(provider=provider)
        return list(qs)

    # -- running -----------------------------------------------------------------------------
    def _run(self, family, config) -> bool:
        """Sync one config; True when nothing failed."""
        name = f"{config.organisation.slug} · {config.provider}"
        with correlation_scope() as cid, _Progress(self, name) as progress:
            try:
                result = family.sync_handler(config, progress=progress)
            except IntegrationError as exc:
                progress.close()
                message = redact(exc.message, config.secrets.values_to_hide())
                self.stderr.write(f"{name}: FAILED: {message} (cid={cid})")
                return False
            except Exception as exc:  # a bug in one family's handler must not hide the others' results
                progress.close()
                logger.exception("sync.crash family=%s config=%s", family.name, config.pk)
                self.stderr.write(f"{name}: FAILED: internal error {type(exc).__name__} (cid={cid})")
                return False
        result = result if isinstance(result, SyncResult) else SyncResult()
        ok = not result.failed
        line = (
            f"{name}: {'ok' if ok else 'FAILED'}: queued {result.queued}, delivered {result.delivered}, "
            f"failed {result.failed}, skipped {result.skipped} (cid={cid})"
        )
        (self.stdout if ok else self.stderr).write(line)
        return ok


class _Progress:
    """The `progress(done, total, message)` callable handed to a sync handler: a tqdm bar on a
    terminal, plain lines (at most one per change of `done`) when output is captured."""

    def __init__(self, command: BaseCommand, name: str):
        self.command, self.name = command, name
        self.bar = None
        self.interactive = command.stdout.isatty()
        self._last = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __call__(self, done: int, total: int | None = None, message: str = "") -> None:
        if self.interactive:
            self._tqdm(done, total, message)
        elif (done, total) != self._last:
            self._last = (done, total)
            of = f"/{total}" if total is not None else ""
            self.command.stdout.write(f"{self.name}: {done}{of}{f' {message}' if message else ''}")

    def _tqdm(self, done, total, message):
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.name, file=self.command.stdout._out, leave=True)
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        if message:
            self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

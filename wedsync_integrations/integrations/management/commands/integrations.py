"""`manage.py integrations apply FILE.json [--dry-run]` and `manage.py integrations export [--org SLUG]`.

The logic lives in wedsync_integrations.integrations.config_io; this only reads and prints.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from wedsync_integrations.integrations import config_io


class Command(BaseCommand):
    help = "Apply or export organisations and their integration configs as JSON (secrets redacted on export)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        apply = sub.add_parser("apply", help="Create or update organisations and configs from a JSON file.")
        apply.add_argument("file", help="path to the JSON file, or - for stdin")
        apply.add_argument("--dry-run", action="store_true", help="validate and report without writing")
        export = sub.add_parser("export", help="Print organisations and configs as JSON, secrets redacted.")
        export.add_argument("--org", dest="org", help="only this organisation (slug)")

    def handle(self, *args, **options):
        if options["action"] == "apply":
            self._apply(options)
        else:
            self._export(options)

    def _apply(self, options):
        text = self._read(options["file"], options.get("stdin"))
        try:
            report = config_io.apply(config_io.load(text), dry_run=options["dry_run"])
        except config_io.ConfigFileError as exc:
            raise CommandError(f"{options['file']}: {exc}")
        for line in report.lines():
            self.stdout.write(line)

    def _export(self, options):
        try:
            document = config_io.export(options.get("org"))
        except LookupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))

    @staticmethod
    def _read(path: str, stdin) -> str:
        if path == "-":
            return (stdin or sys.stdin).read()
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}")

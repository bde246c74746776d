"""`manage.py bi lookml [--out DIR]` and `manage.py bi grant_readonly ROLE`: Looker's side of the BI family.

lookml          writes `<model>.model.lkml` and `views/*.view.lkml` for the reporting tables (the model
                and datagroup names of a Looker configuration with --org/--config, else the defaults)
grant_readonly  creates (or updates) a PostgreSQL login role that can read the reporting schema and
                nothing else, for Looker's database connection; prints the password it set once
                (or takes it from --password-env)
refresh         refreshes the metrics and reporting tables now (what follows every rollup)
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from bi import lookml, reporting
from bi.models import BIConfig
from bi.sync import refresh_everything

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Command(BaseCommand):
    help = "BI family tools: write LookML for the reporting tables, create Looker's read-only role, refresh now."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        look = sub.add_parser("lookml", help="write the LookML model and views for the reporting tables")
        look.add_argument("--out", default="lookml", help="directory to write into (default ./lookml)")
        look.add_argument("--connection", default="wedsync_reporting", help="Looker connection name")
        look.add_argument("--model", help="model name (default: the Looker configuration's, else wedsync)")
        look.add_argument("--datagroup", help="datagroup name (default: the Looker configuration's)")
        look.add_argument("--org", help="only this organisation's rows (sql_always_where), and its Looker settings")
        grant = sub.add_parser("grant_readonly", help="create a read-only PostgreSQL role for Looker")
        grant.add_argument("role", help="role name (lower-case letters, digits, underscores)")
        grant.add_argument("--password-env", help="read the password from this environment variable")
        sub.add_parser("refresh", help="refresh the executive metrics and the reporting tables now")

    def handle(self, *args, action, **options):
        if action == "lookml":
            return self.write_lookml(**options)
        if action == "grant_readonly":
            return self.grant_readonly(options["role"], options.get("password_env"))
        result = refresh_everything()
        self.stdout.write(f"refreshed: {result}")

    # -- lookml -------------------------------------------------------------------------------------
    def write_lookml(self, *, out, connection, model, datagroup, org, **_):
        config = None
        if org or not (model and datagroup):
            configs = BIConfig.objects.filter(provider="looker")
            if org:
                configs = configs.filter(organisation__slug=org)
            config = configs.order_by("pk").first()
            if org and config is None:
                raise CommandError(f"no Looker configuration for organisation {org!r}")
        model = model or (config.settings.get("model_name") if config else None) or "wedsync"
        datagroup = datagroup or (config.settings.get("datagroup_name") if config else None)
        datagroup = datagroup or "wedsync_executive_metrics_etl"
        try:
            written = lookml.files(model_name=model, datagroup_name=datagroup, connection_name=connection,
                                   organisation_slug=org or "")  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc))
        root = Path(out)
        for relative, text in written.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            self.stdout.write(f"wrote {path}")

    # -- grant_readonly -----------------------------------------------------------------------------
    def grant_readonly(self, role: str, password_env: str | None):
        if connection.vendor != "postgresql":
            raise CommandError("grant_readonly needs PostgreSQL (DATABASE_URL=postgres://...): SQLite has no roles")
        if not ROLE_NAME.match(role):
            raise CommandError(f"role name {role!r}: use lower-case letters, digits and underscores (max 63)")
        if password_env:
            password = os.environ.get(password_env, "")
            if len(password) < 16:
                raise CommandError(f"${password_env} must hold a password of at least 16 characters")
        else:
            password = secrets.token_urlsafe(24)
        reporting.ensure_tables()
        quote = connection.ops.quote_name
        schema, name = quote(settings.BI_REPORTING_SCHEMA), quote(role)
        database = quote(connection.settings_dict["NAME"])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(f"{verb} ROLE {name} LOGIN PASSWORD %s NOSUPERUSER NOCREATEDB NOCREATEROLE", [password])
            cursor.execute(f"ALTER ROLE {name} SET default_transaction_read_only = on")
            cursor.execute(f"GRANT CONNECT ON DATABASE {database} TO {name}")
            cursor.execute(f"REVOKE ALL ON SCHEMA public FROM {name}")
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
            cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {name}")
            cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {name}")
        self.stdout.write(f"{verb.lower()}d role {role}: SELECT on schema {settings.BI_REPORTING_SCHEMA} only")
        if not password_env:
            self.stdout.write(f"password (shown once): {password}")

"""`manage.py usage_token SLUG`: issue an organisation's usage-ingest token (revoking the old one).

The token is printed once, on stdout alone, so it can be piped into a secret store:
    manage.py usage_token acme | vault kv put secret/wedsync/usage/acme token=-
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.tokens import issue_token, revoke_tokens


class Command(BaseCommand):
    help = "Print a new usage-ingest token for an organisation and revoke its previous one."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the organisation's slug")
        parser.add_argument(
            "--revoke-only", action="store_true", help="revoke the active token without issuing a new one"
        )

    def handle(self, *args, slug: str, revoke_only: bool, **options):
        organisation = Organisation.objects.filter(slug=slug).first()
        if organisation is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        actor = f"cli:{_operator()}"
        if revoke_only:
            count = revoke_tokens(organisation, revoked_by=actor)
            self.stderr.write(f"Revoked {count} active token(s) of {organisation.slug}; it cannot ingest usage now.")
            return
        token = issue_token(organisation, created_by=actor)
        self.stderr.write(
            f"New usage token for {organisation.slug}; the previous one no longer works. "
            "It is shown only this once: store it now."
        )
        self.stdout.write(token)


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"

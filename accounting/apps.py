from django.apps import AppConfig


class AccountingAppConfig(AppConfig):
    name = "accounting"
    verbose_name = "Accounting exports"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import (
            confirmations,  # noqa: F401  (registers the vendors' webhook handlers)
            providers,  # noqa: F401  (vendor modules register themselves)
            receivers,  # noqa: F401  (outbox signals -> export states)
            sync,  # noqa: F401  (registers the family's sync handler)
        )
        from .family import FAMILY

        register_family(FAMILY)

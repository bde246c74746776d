from django.apps import AppConfig


class CrmAppConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM value reports"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import (
            handlers,  # noqa: F401  (a "new client" webhook syncs the organisation's CRMs; Tave jobs are linked)
            providers,  # noqa: F401  (vendor modules register themselves)
            sync,  # noqa: F401  (registers the family's sync handler)
        )
        from .family import FAMILY

        register_family(FAMILY)

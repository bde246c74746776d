from django.apps import AppConfig


class MonitoringAppConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring exports"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import (
            handlers,  # noqa: F401  (a CRM "new client" webhook syncs the organisation's metrics)
            providers,  # noqa: F401  (vendor modules register themselves)
            sync,  # noqa: F401  (registers the family's sync handler)
        )
        from .family import FAMILY

        register_family(FAMILY)

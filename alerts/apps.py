from django.apps import AppConfig


class AlertsAppConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import (  # noqa: F401  (kernel signals, inbound events)
            providers,  # noqa: F401  (channel modules register themselves)
            receivers,
            tasks,  # in every process: a task sent by name then runs as registered (eager in tests)
            webhook_handlers,
        )
        from .family import FAMILY

        register_family(FAMILY)

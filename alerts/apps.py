from django.apps import AppConfig


class AlertsAppConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import providers  # noqa: F401
        from .family import FAMILY

        register_family(FAMILY)

from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Inbound webhooks"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import handlers, providers  # noqa: F401  (sources and our own handlers register themselves)
        from .family import FAMILY

        register_family(FAMILY)

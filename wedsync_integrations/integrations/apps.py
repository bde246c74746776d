from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationsConfig(AppConfig):
    name = "wedsync_integrations.integrations"
    label = "integrations"
    verbose_name = "Integration kernel"

    def ready(self):
        from wedsync_integrations.core.metrics import register_collector

        from . import checks  # noqa: F401  (registers the family checks)
        from .observability import OUTBOX_COLLECTOR
        from .schedules import on_post_migrate

        register_collector(OUTBOX_COLLECTOR)
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="integrations.install_schedules")

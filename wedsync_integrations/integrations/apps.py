from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationsConfig(AppConfig):
    name = "wedsync_integrations.integrations"
    label = "integrations"
    verbose_name = "Integration kernel"

    def ready(self):
        from . import checks  # noqa: F401  (registers the family checks)
        from .schedules import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="integrations.install_schedules")

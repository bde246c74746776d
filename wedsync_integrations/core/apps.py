from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "wedsync_integrations.core"
    label = "core"
    verbose_name = "Service"

    def ready(self):
        from . import checks, observability  # noqa: F401  (registers checks and Celery signal handlers)

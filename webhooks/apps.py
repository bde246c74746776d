from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Inbound webhooks"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        # sources, handlers and checks register themselves; tasks in every process, so a task
        # sent by name runs as registered (eager in tests)
        from . import checks, handlers, providers, tasks  # noqa: F401
        from .family import FAMILY

        register_family(FAMILY)

        from django.db.models.signals import post_delete, post_save

        from wedsync_integrations.tenants.models import Organisation

        from .intake import forget_targets
        from .models import WebhookConfig

        # the endpoint caches configurations per process: a change saved here is seen at once
        for model in (WebhookConfig, Organisation):
            uid = f"webhooks.forget_targets.{model.__name__}"
            post_save.connect(forget_targets, sender=model, dispatch_uid=uid + ".save")
            post_delete.connect(forget_targets, sender=model, dispatch_uid=uid + ".delete")

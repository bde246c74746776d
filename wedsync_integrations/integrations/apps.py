from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "wedsync_integrations.integrations"
    label = "integrations"
    verbose_name = "Integration kernel"

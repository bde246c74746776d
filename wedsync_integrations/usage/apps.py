from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "wedsync_integrations.usage"
    label = "usage"
    verbose_name = "AI usage"

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "wedsync_integrations.console"
    label = "console"
    verbose_name = "Operations console"

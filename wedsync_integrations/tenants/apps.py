from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "wedsync_integrations.tenants"
    label = "tenants"
    verbose_name = "Tenants"

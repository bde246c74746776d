"""Monitoring admin: the kernel's config, log, audit and retry-queue admins, plus the export cursor
(last exported hour) on every config and a "sync now" action."""

from django.contrib import admin

from wedsync_integrations.integrations.admin import ProviderConfigAdmin, register_family_admin, sync_configs_now

from .family import FAMILY
from .models import MonitoringCursor


class MonitoringConfigAdmin(ProviderConfigAdmin):
    list_display = [*ProviderConfigAdmin.list_display, "last_exported_hour"]
    list_select_related = ["organisation", "cursor"]
    readonly_fields = [*ProviderConfigAdmin.readonly_fields, "last_exported_hour"]
    actions = [*ProviderConfigAdmin.actions, "sync_now"]

    @admin.display(description="last exported hour (UTC)", ordering="cursor__last_exported_hour")
    def last_exported_hour(self, obj):
        try:
            hour = obj.cursor.last_exported_hour
        except MonitoringCursor.DoesNotExist:
            return "-"
        return f"{hour:%Y-%m-%d %H}:00" if hour else "-"

    # It sends to the tenant's vendor: the change permission, not only view (see resume_configs).
    @admin.action(
        description="Sync now: export finished hours not yet exported, then drain the queue", permissions=["change"]
    )
    def sync_now(self, request, queryset):
        sync_configs_now(self, request, queryset)


register_family_admin(FAMILY, config_admin=MonitoringConfigAdmin)

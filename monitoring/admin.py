"""Monitoring admin: the kernel's config, log, audit and retry-queue admins, plus the export cursor
(last exported hour) on every config and a "sync now" action."""

import logging

from django.contrib import admin, messages

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.admin import ProviderConfigAdmin, register_family_admin

from .family import FAMILY
from .models import MonitoringCursor

logger = logging.getLogger("wedsync.monitoring")


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
        for config in queryset.select_related("organisation"):
            if not config.is_usable:
                self.message_user(request, f"{config}: skipped ({config.get_status_display()})", messages.WARNING)
                continue
            try:
                result = FAMILY.sync_handler(config)
            except Exception as exc:  # one config's failure must not hide the others' results
                logger.exception("monitoring.admin_sync_failed config=%s", config.pk)
                self.message_user(request, f"{config}: sync failed ({type(exc).__name__})", messages.ERROR)
                continue
            summary = f"queued {result.queued}, delivered {result.delivered}, failed {result.failed}"
            self.message_user(request, f"{config}: {summary}", messages.ERROR if result.failed else messages.SUCCESS)
            audit.record(
                FAMILY,
                actor=audit.actor_for_user(request.user),
                user=request.user,
                action="sync_now",
                target=config,
                summary=summary,
            )


register_family_admin(FAMILY, config_admin=MonitoringConfigAdmin)

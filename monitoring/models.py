from django.db import models

from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)


class MonitoringConfig(ProviderConfigBase):
    family_name = "monitoring"


class MonitoringSyncLog(SyncLogBase):
    pass


class MonitoringAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "monitoring audit entries"


class MonitoringRetryItem(RetryItemBase):
    pass


class MonitoringCursor(models.Model):
    """How far one (organisation, provider) has exported: the last finished UTC hour whose
    payloads are in the outbox. Advanced in the same transaction that writes those outbox items,
    so every hour is queued exactly once; it never moves backwards."""

    config = models.OneToOneField(MonitoringConfig, on_delete=models.CASCADE, related_name="cursor")
    last_exported_hour = models.DateTimeField(null=True, blank=True, help_text="start of the hour (UTC)")
    restated_up_to = models.DateTimeField(
        null=True, blank=True, help_text="rollups recomputed up to this time were checked for late usage"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "export cursor"

    def __str__(self) -> str:
        return f"{self.config}: {self.last_exported_hour or 'nothing exported yet'}"

    def advance_to(self, hour) -> None:
        if self.last_exported_hour is not None and hour <= self.last_exported_hour:
            return  # never backwards
        self.last_exported_hour = hour
        self.save(update_fields=["last_exported_hour", "updated_at"])

from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)


class AlertConfig(ProviderConfigBase):
    family_name = "alerts"


class AlertSyncLog(SyncLogBase):
    pass


class AlertAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "alert audit entries"


class AlertRetryItem(RetryItemBase):
    pass

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

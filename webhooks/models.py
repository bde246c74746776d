from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)


class WebhookConfig(ProviderConfigBase):
    """Per-organisation signing secrets for one inbound source."""

    family_name = "webhooks"


class WebhookSyncLog(SyncLogBase):
    pass


class WebhookAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "webhook audit entries"


class WebhookRetryItem(RetryItemBase):
    pass

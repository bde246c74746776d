from django.db import models

from wedsync_integrations.integrations.models import AuditEntryBase, ProviderConfigBase, SyncLogBase


class HalfConfig(ProviderConfigBase):
    family_name = "halfwired"


class HalfSyncLog(SyncLogBase):
    pass


class HalfAuditEntry(AuditEntryBase):
    pass


class HalfRetryItem(models.Model):
    payload = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"half-wired item {self.pk}"

from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "webhooks",
    "Webhooks",
    config="webhooks.WebhookConfig",
    sync_log="webhooks.WebhookSyncLog",
    audit="webhooks.WebhookAuditEntry",
    retry="webhooks.WebhookRetryItem",
    schedules=(
        # publishes new events of sweeper sources and re-queues what a dead worker left behind
        Schedule("webhooks: publish and re-queue inbound events", "webhooks.sweep", timedelta(seconds=10)),
        Schedule("webhooks: purge old inbound events", "webhooks.purge", timedelta(days=1)),
    ),
    inbound_only=True,
)

from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "monitoring",
    "Monitoring",
    config="monitoring.MonitoringConfig",
    sync_log="monitoring.MonitoringSyncLog",
    audit="monitoring.MonitoringAuditEntry",
    retry="monitoring.MonitoringRetryItem",
    # Every minute, all year: a sync exports only hours that have finished, so a one-minute beat
    # costs little and gets each hour out about a minute after its grace period.
    schedules=(
        Schedule(
            "monitoring: export finished hours", "integrations.sync_family", timedelta(minutes=1), args=("monitoring",)
        ),
        Schedule(
            "monitoring: drain retry queue", "integrations.drain_family", timedelta(minutes=1), args=("monitoring",)
        ),
    ),
)

from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "alerts",
    "Alerts",
    config="alerts.AlertConfig",
    sync_log="alerts.AlertSyncLog",
    audit="alerts.AlertAuditEntry",
    retry="alerts.AlertRetryItem",
    schedules=(
        # wedding-day escalation must go out within 15 s of its time
        Schedule("alerts: escalate unacknowledged alerts", "alerts.escalate_due", timedelta(seconds=10)),
        # the safety net behind the immediate dispatch: retries failed channel deliveries
        Schedule(
            "alerts: drain and retry channel deliveries",
            "integrations.drain_family",
            timedelta(seconds=15),
            args=("alerts",),
        ),
        Schedule("alerts: check AI error rates", "alerts.check_error_rates", timedelta(minutes=5)),
    ),
)

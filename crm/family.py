from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "crm",
    "CRM",
    config="crm.CRMConfig",
    sync_log="crm.CRMSyncLog",
    audit="crm.CRMAuditEntry",
    retry="crm.CRMRetryItem",
    schedules=(
        # Daily: a month's report is due once, some days after the month ends (CRM_MONTH_CLOSE_DAYS),
        # and a wedding's note the day after it. An interval rather than a crontab, so a new
        # installation (and the demo) sends what is due when beat first starts.
        Schedule(
            "crm: send closed months' value reports and wedding notes",
            "integrations.sync_family",
            timedelta(days=1),
            args=("crm",),
        ),
        # What a "new client" webhook queued, and retries after a vendor outage, go out within a minute.
        Schedule("crm: drain retry queue", "integrations.drain_family", timedelta(minutes=1), args=("crm",)),
    ),
)

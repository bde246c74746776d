"""The BI family: executive AI metrics, checked by data-quality gates, to Power BI, Tableau and Looker
(docs/families/bi.md)."""

from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "bi",
    "BI",
    config="bi.BIConfig",
    sync_log="bi.BISyncLog",
    audit="bi.BIAuditEntry",
    retry="bi.BIRetryItem",
    # The rollup itself triggers the BI refresh the moment it commits (usage.signals.rollups_updated,
    # see bi/receivers.py), so a finished hour reaches the tools within seconds. These are the safety
    # nets: a refresh every minute in case a trigger was lost, and the retry queue.
    schedules=(
        Schedule("bi: refresh executive metrics and push", "bi.refresh_and_sync", timedelta(minutes=1)),
        Schedule("bi: drain retry queue", "integrations.drain_family", timedelta(minutes=1), args=("bi",)),
    ),
)

from datetime import timedelta

from wedsync_integrations.integrations.registry import Family, Schedule

FAMILY = Family(
    "accounting",
    "Accounting",
    config="accounting.AccountingConfig",
    sync_log="accounting.AccountingSyncLog",
    audit="accounting.AccountingAuditEntry",
    retry="accounting.AccountingRetryItem",
    # Month-end is a daily job: a month is exported once it has been closed
    # ACCOUNTING_MONTH_CLOSE_DAYS days, and late usage for an exported month goes out as an
    # adjustment the next morning. It reads every organisation's month at once
    # (exporter.month_end) rather than fanning out one sync per configuration; `manage.py sync
    # accounting` and admin's "export now" run the same plans for one configuration.
    # Times are Europe/London, away from the 01:00-02:00 DST hour.
    schedules=(
        Schedule("accounting: export closed months", "accounting.month_end", crontab="15 6 * * *"),
        Schedule(
            "accounting: drain retry queue", "integrations.drain_family", timedelta(minutes=5), args=("accounting",)
        ),
        Schedule("accounting: reconcile exported documents", "accounting.reconcile", crontab="30 3 * * *"),
        Schedule(
            "accounting: match vendor confirmations to exports", "accounting.match_confirmations", timedelta(hours=1)
        ),
        Schedule("accounting: VAT registration threshold watch", "accounting.watch_vat_threshold", crontab="0 7 * * *"),
    ),
)

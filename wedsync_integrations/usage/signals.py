"""Signals of the usage app, for families that follow the rollups without the usage app knowing them.

rollups_updated(sender, hours: list[datetime], stats: RollupStats)
    a rollup run recomputed these hours (UTC hour starts) and committed them. Sent with
    send_robust once the run's transactions are committed: a failing receiver never breaks
    the rollup. The BI family refreshes its executive metrics on it, so a finished hour
    reaches the BI tools right after its rollup, not at the next beat tick.
"""

from django.dispatch import Signal

rollups_updated = Signal()

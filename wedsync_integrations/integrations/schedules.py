"""Installs the declared beat schedules after `migrate`: each family's (Family.schedules) and the
kernel apps' own (declare(), e.g. usage's exchange-rate tasks).

django-celery-beat's DatabaseScheduler reads PeriodicTask rows, which staff edit in admin. A
schedule is created only when no row of its name exists, so what staff changed (an interval,
a disabled task) survives every later migrate; to stop a schedule for good, disable it rather
than delete it (a deleted one is installed again).
"""

from __future__ import annotations

import json
import logging

from .registry import Schedule, families

logger = logging.getLogger("wedsync.schedules")

PERIODS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))

_kernel: dict[str, tuple[Schedule, ...]] = {}


def declare(owner: str, *schedules: Schedule) -> None:
    """A kernel app's schedules (families declare theirs on the Family)."""
    _kernel[owner] = schedules


def kernel_schedules() -> list[tuple[str, Schedule]]:
    return [(owner, schedule) for owner, schedules in sorted(_kernel.items()) for schedule in schedules]


def declared() -> list[tuple[str, Schedule]]:
    """(owner, schedule) for every declared schedule, families' and the kernel's."""
    pairs = [(family.name, schedule) for family in families() for schedule in family.schedules]
    return pairs + kernel_schedules()


def install_missing(using: str = "default") -> list[str]:
    """Create the PeriodicTask of every declared schedule that has none. Returns their names."""
    created = [schedule.name for owner, schedule in declared() if _install(owner, schedule, using)]
    if created:
        logger.info("schedules.installed %s", ", ".join(created))
    return created


def _install(owner: str, schedule: Schedule, using: str) -> bool:
    from django_celery_beat.models import PeriodicTask

    if PeriodicTask.objects.using(using).filter(name=schedule.name).exists():
        return False
    PeriodicTask.objects.using(using).create(
        name=schedule.name,
        task=schedule.task,
        args=json.dumps(list(schedule.args)),
        enabled=True,
        description=schedule.description or f"Declared by {owner} (installed after migrate when absent).",
        **_timing(schedule, using),
    )
    return True


def _timing(schedule: Schedule, using: str) -> dict:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    if schedule.crontab:
        minute, hour, day, month, weekday = schedule.crontab.split()
        crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday,
            timezone="Europe/London",
        )  # fmt: skip
        return {"crontab": crontab}
    every, period = _interval(schedule.every.total_seconds())
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(every=every, period=period)
    return {"interval": interval}


def _interval(seconds: float) -> tuple[int, str]:
    """The coarsest whole unit: 86400 s -> (1, "days"), 90 s -> (90, "seconds")."""
    for period, size in PERIODS:
        if seconds >= size and seconds % size == 0:
            return int(seconds // size), period
    return max(1, int(seconds)), "seconds"


def on_post_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate fires once per app; install after the beat app's own tables exist."""
    if sender.label == "integrations":
        install_missing(using)

"""Celery tasks of the usage app. Beat runs `usage.update_rollups` every minute (schedule
installed by migration 0003, editable in admin under Periodic tasks)."""

from __future__ import annotations

from celery import shared_task

from .rollup import update_rollups as _update_rollups


@shared_task(name="usage.update_rollups", ignore_result=True)
def update_rollups() -> dict:
    # Idempotent and incremental: a duplicate delivery recomputes nothing that is not dirty,
    # and overlapping runs give way to the one holding the rollup lock.
    return _update_rollups().as_dict()

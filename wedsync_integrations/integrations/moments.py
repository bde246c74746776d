"""Times as staff read them: London wall-clock time with how long ago (or how soon) it is.

with_age(config.last_success_at)   # "07 Dec 2026 14:05 GMT (3 minutes ago)"
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil


def london(moment: datetime) -> str:
    """Europe/London (the project's TIME_ZONE), with GMT or BST said."""
    return f"{timezone.localtime(moment):%d %b %Y %H:%M %Z}"


def age(moment: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", "in 52 minutes", "just now" (the largest unit only)."""
    now = now or timezone.now()
    if abs((now - moment).total_seconds()) < 60:
        return "just now"
    if moment <= now:
        return f"{timesince(moment, now, depth=1)} ago"
    return f"in {timeuntil(moment, now, depth=1)}"


def with_age(moment: datetime | None, now: datetime | None = None, *, never: str = "never") -> str:
    if moment is None:
        return never
    return f"{london(moment)} ({age(moment, now)})"

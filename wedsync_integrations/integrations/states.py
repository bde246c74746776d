"""The kernel's status vocabulary, apart from the models so any module can use it without
importing them (credentials.py, for one, is imported by the registry the models use).

A configuration's stored `status` says what its last delivery did (failing: it failed; stopped:
the kernel or staff stopped it). What a person reads is `describe_status()`: the stored status
together with the queue, so "retrying" is said only when an item will really be sent again, and
otherwise the page names what a person must do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import ngettext


class ConfigStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FAILING = "failing", "Failing"
    STOPPED = "stopped", "Stopped"


class CredentialStatus(models.TextChoices):
    """The vendor-issued credential of a config (see credentials.py); NONE for static API keys."""

    NONE = "", "—"
    CONNECTED = "connected", "Connected"
    RECONNECT = "reconnect", "Reconnect needed"


class SyncOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed permanently"
    SKIPPED = "skipped", "Skipped"


class RetryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead"


@dataclass(frozen=True)
class QueueFacts:
    """What a configuration's retry queue holds, as far as its status is concerned."""

    retrying: int = 0  # pending items that failed at least once: the outbox sends them again
    next_retry_at: datetime | None = None  # when the earliest of those is due
    dead: int = 0  # items the outbox gave up on: only "replay" sends them


class Tone(models.TextChoices):
    """How a status reads at a glance (the admin colours it)."""

    OK = "ok", "fine"
    WAITING = "waiting", "the system is handling it"
    ACTION = "action", "a person must act"
    OFF = "off", "switched off"


@dataclass(frozen=True)
class StatusWord:
    text: str
    tone: str  # a Tone value

    @property
    def needs_person(self) -> bool:
        return self.tone == Tone.ACTION


def describe_status(
    *, status: str, reason: str = "", credential_status: str = "", enabled: bool = True, queue: QueueFacts
) -> StatusWord:
    """The truthful status of one configuration: "retrying" only when the outbox will send an
    item again by itself (the configuration usable and an item pending after a failure);
    otherwise what a person must do."""
    if not enabled:
        return StatusWord("Disabled", Tone.OFF)
    if status == ConfigStatus.STOPPED:
        return _stopped(reason, credential_status)
    dead = _dead_items(queue.dead)
    if queue.retrying:
        text = ngettext("Retrying %(n)d item", "Retrying %(n)d items", queue.retrying) % {"n": queue.retrying}
        if queue.next_retry_at is not None:
            text += f" (next attempt {_clock(queue.next_retry_at)})"
        if dead:
            return StatusWord(f"{text}; {dead}", Tone.ACTION)
        return StatusWord(text, Tone.WAITING)
    if dead:
        return StatusWord(dead, Tone.ACTION)
    if status == ConfigStatus.FAILING:
        # the last delivery failed and nothing is waiting to be sent again: nothing will retry
        return StatusWord("Last delivery failed, nothing queued to retry: test the connection", Tone.ACTION)
    return StatusWord("Active", Tone.OK)


def _stopped(reason: str, credential_status: str) -> StatusWord:
    if credential_status == CredentialStatus.RECONNECT:
        return StatusWord("Reconnect needed: the vendor withdrew access — press Reconnect", Tone.ACTION)
    why = reason.strip() or "stopped"
    return StatusWord(f"Stopped: {why} — fix and resume", Tone.ACTION)


def _dead_items(count: int) -> str:
    if not count:
        return ""
    return ngettext("Dead item: replay it", "%(n)d dead items: replay them", count) % {"n": count}


def _clock(moment: datetime) -> str:
    """A time as people here read it: London, with the day when it is not today."""
    local, today = timezone.localtime(moment), timezone.localdate()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%a %d %b %H:%M}"

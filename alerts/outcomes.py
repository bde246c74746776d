"""What happened to each channel when an alert changed: told, waiting in its queue, or not told
and why. Built from what notify really queued or skipped (notify.decide), so the message a person
reads after pressing Acknowledge is the truth, never a promise.

    result = lifecycle.acknowledge(alert.pk, by="admin:olivia", via=ActionSource.ADMIN)
    for outcome in result.channels:
        outcome.channel, outcome.outcome, outcome.sentence()
    # "slack", "told", "Slack told."
    # "pagerduty", "waiting", "PagerDuty not told: its configuration is stopped (HTTP 401 …); …"

The four outcomes:
- told: an item is queued on a channel that is working (configuration usable, circuit closed,
  nothing retrying ahead of it): the worker sends it now; the alert page shows the vendor's answer.
- waiting: an item is queued but held back (configuration stopped, circuit open, an earlier item
  of the same channel backing off): it is kept and goes out when that is over.
- not_told: the channel should have heard it but nothing was queued (no configuration, or
  configuration disabled).
- nothing_to_tell: the channel does not hear this kind of change (email and SMS are not told of
  acknowledgements), never heard of the alert, or is where the change came from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from wedsync_integrations.integrations.breaker import CircuitBreaker, CircuitState
from wedsync_integrations.integrations.models import RetryState

from .family import FAMILY
from .models import Purpose

CHANNEL_NAMES = {"slack": "Slack", "email": "Email", "sms": "SMS", "pagerduty": "PagerDuty", "webhook": "Webhook"}
# What a person calls each purpose in a sentence ("Email is not told of acknowledgements").
PURPOSE_NOUNS = {
    Purpose.NOTIFY: "new alerts",
    Purpose.REPEAT: "repeats",
    Purpose.WORSE: "severity rises",
    Purpose.ESCALATE: "escalations",
    Purpose.ACKNOWLEDGE: "acknowledgements",
    Purpose.RESOLVE: "resolutions",
}
PURPOSE_SINGULAR = {
    Purpose.NOTIFY: "alert",
    Purpose.REPEAT: "repeat",
    Purpose.WORSE: "severity rise",
    Purpose.ESCALATE: "escalation",
    Purpose.ACKNOWLEDGE: "acknowledgement",
    Purpose.RESOLVE: "resolution",
}


class Outcome(enum.StrEnum):
    TOLD = "told"
    WAITING = "waiting"
    NOT_TOLD = "not_told"
    NOTHING_TO_TELL = "nothing_to_tell"


def channel_name(channel: str) -> str:
    if channel in CHANNEL_NAMES:
        return CHANNEL_NAMES[channel]
    try:
        return FAMILY.provider(channel).label
    except Exception:  # a channel whose provider is gone still gets a readable name
        return channel


@dataclass(frozen=True)
class ChannelOutcome:
    channel: str
    outcome: Outcome
    reason: str = ""
    purpose: str = Purpose.ACKNOWLEDGE

    @property
    def name(self) -> str:
        return channel_name(self.channel)

    @property
    def needs_attention(self) -> bool:
        """A channel that should hear the change and has not (a person may have to act)."""
        return self.outcome in (Outcome.WAITING, Outcome.NOT_TOLD)

    def sentence(self) -> str:
        if self.outcome == Outcome.TOLD:
            return f"{self.name} told."
        if self.outcome == Outcome.NOTHING_TO_TELL:
            return f"{self.name}: nothing to tell ({self.reason})."
        return f"{self.name} not told: {self.reason}."

    def as_dict(self) -> dict:
        return {"channel": self.channel, "outcome": str(self.outcome), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict, purpose: str) -> ChannelOutcome:
        return cls(data["channel"], Outcome(data["outcome"]), data.get("reason", ""), purpose)


def summary(outcomes: list[ChannelOutcome]) -> str:
    """One line for a person: every channel's sentence, in channel order."""
    return " ".join(outcome.sentence() for outcome in outcomes) or "No channel is configured to hear it."


# -- why a queued item may not go out now ---------------------------------------------------------------
def why_held(config, *, before_item_id: int | None = None, now: datetime | None = None) -> str | None:
    """Why an item queued now on `config`'s channel will not go out at once, or None when nothing
    holds it back. The same three things the outbox checks before sending (outbox.deliver_item,
    http.VendorClient, outbox._deliver_due): the configuration, its circuit, the items ahead."""
    now = now or timezone.now()
    if not config.enabled:
        return "its configuration is disabled; the item is kept and goes out once it is enabled"
    if not config.is_usable:
        reason = f" ({config.status_reason})" if config.status_reason else ""
        return f"its configuration is stopped{reason}; it waits in the queue until staff resume the configuration"
    breaker = CircuitBreaker(FAMILY.name, config.organisation_id, config.provider)
    if breaker.state() is CircuitState.OPEN:
        seconds = round(breaker.seconds_until_retry())
        return f"its circuit is open after repeated failures (next try in {seconds} s); it is queued"
    ahead = FAMILY.retry_model.objects.filter(
        organisation_id=config.organisation_id,
        provider=config.provider,
        state=RetryState.PENDING,
        next_attempt_at__gt=now,
    )
    if before_item_id is not None:
        ahead = ahead.filter(pk__lt=before_item_id)
    blocking = ahead.order_by("id").first()
    if blocking is not None:
        when = timezone.localtime(blocking.next_attempt_at).strftime("%H:%M:%S")
        return f"it is queued behind an earlier delivery that is retrying (next attempt at {when})"
    return None

"""Signals the kernel sends so other families (alerts) can react to integration trouble
without the kernel knowing about them. Sent with send_robust: a failing receiver never
breaks delivery bookkeeping.

    config_stopped(sender=Family, config, reason)           bad credentials / unsafe URL
    delivery_dead(sender=Family, item, error)                an outbox item gave up
    delivery_failed(sender=Family, item, error, attempts)    one attempt failed, will retry
    attention_needed(sender, notice=Notice)                  something staff must see (a VAT threshold
                                                             near, a data-quality gate failed, usage
                                                             waiting for a rate): one open alert per key
    attention_cleared(sender, key, organisation)             that something is over (the alert resolves)

Families call need_attention()/attention_over() rather than importing the alerts family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

config_stopped = Signal()
delivery_dead = Signal()
delivery_failed = Signal()
attention_needed = Signal()
attention_cleared = Signal()


@dataclass(frozen=True)
class Notice:
    """What staff must be told. `key` is stable for the condition: raising it again while it is
    open counts an occurrence instead of a second alert. `organisation` None = platform-wide."""

    key: str
    title: str
    description: str
    severity: str = "medium"  # low | medium | high | critical
    organisation: Any = None
    impact: str = ""
    recovery_actions: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)


def need_attention(sender, notice: Notice) -> None:
    attention_needed.send_robust(sender=sender, notice=notice)


def attention_over(sender, key: str, organisation=None) -> None:
    attention_cleared.send_robust(sender=sender, key=key, organisation=organisation)

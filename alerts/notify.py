"""Turning an alert event into outbox items, one per channel (and per recipient for SMS).

Each channel is its own (organisation, provider) pair in the kernel outbox, so a Slack outage
queues Slack's items and never delays the SMS or the page. Each channel builds its own stored
bodies (AlertChannel.build_payloads); this module decides who hears what, and when. Items are written in the caller's
transaction and handed to the worker only after it commits (the worker must see the rows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from wedsync_integrations.integrations import outbox
from wedsync_integrations.tenants.models import Organisation

from .family import FAMILY
from .models import Alert, AlertConfig, Channel, Purpose
from .outcomes import PURPOSE_NOUNS, PURPOSE_SINGULAR, ChannelOutcome, Outcome, channel_name, why_held
from .routing import CHANNEL_ORDER

logger = logging.getLogger("wedsync.alerts")

ESCALATION_CHANNELS = (Channel.SLACK, Channel.EMAIL, Channel.SMS)
STATE_CHANGE_CHANNELS = (Channel.SLACK, Channel.PAGERDUTY, Channel.WEBHOOK)
STATE_CHANGES = (Purpose.ACKNOWLEDGE, Purpose.RESOLVE)
Pair = tuple[int, str]
DELIVER_TASK = "alerts.deliver_channel"


def delivering_organisation(alert: Alert) -> Organisation | None:
    """Whose channel configurations carry this alert: its organisation's, or for a platform-wide
    alert the platform organisation's (ALERTS_PLATFORM_ORGANISATION)."""
    if alert.organisation_id:
        return alert.organisation
    return Organisation.objects.filter(slug=settings.ALERTS_PLATFORM_ORGANISATION).first()


def notify(
    alert: Alert, purpose: str, *, at, sequence: int, dispatch: bool = True, exclude: tuple[str, ...] = ()
) -> list[Pair]:
    """Queue `purpose` notifications for `alert` on every channel that should hear it.
    Returns the (organisation id, provider) pairs that received items."""
    telling = tell(alert, purpose, at=at, sequence=sequence, dispatch=dispatch, exclude=exclude, explain=False)
    return telling.pairs


@dataclass
class Telling:
    """What `tell` queued: the pairs to drain, and each channel's outcome (outcomes.py)."""

    pairs: list[Pair] = field(default_factory=list)
    outcomes: list[ChannelOutcome] = field(default_factory=list)


def tell(
    alert: Alert,
    purpose: str,
    *,
    at,
    sequence: int,
    dispatch: bool = True,
    exclude: tuple[str, ...] = (),
    explain: bool = True,
) -> Telling:
    """`notify`, also saying for every channel concerned whether it was told, is waiting in its
    queue, or was not told and why (the message after acknowledging is built from this). Without
    `explain` the told channels are not checked for what might hold them back (raising an alert
    needs no sentence, and saves those reads)."""
    organisation = delivering_organisation(alert)
    if organisation is None:
        logger.error("alerts.no_delivering_organisation alert=%s", alert.pk)
        return Telling()
    configs = {
        config.provider: config
        for config in AlertConfig.objects.filter(organisation=organisation).select_related("organisation")
    }
    telling = Telling()
    for channel, reason in decide(alert, purpose, configs, exclude=exclude).items():
        if reason is not None:
            telling.outcomes.append(ChannelOutcome(channel, *reason, purpose=purpose))
            continue
        config = configs[channel]
        first_item = _enqueue(config, alert, purpose, at=at, sequence=sequence)
        if first_item is None:
            nobody = ChannelOutcome(channel, Outcome.NOT_TOLD, "it had no recipient to send to", purpose)
            telling.outcomes.append(nobody)
            continue
        telling.pairs.append((config.organisation_id, channel))
        held = why_held(config, before_item_id=first_item.pk, now=at) if explain else None
        outcome = Outcome.WAITING if held else Outcome.TOLD
        telling.outcomes.append(ChannelOutcome(channel, outcome, held or "", purpose))
    if dispatch and telling.pairs:
        pairs = list(telling.pairs)
        transaction.on_commit(lambda: dispatch_pairs(pairs))
    return telling


def _enqueue(config: AlertConfig, alert: Alert, purpose: str, *, at, sequence: int):
    """One outbox item per payload the channel builds (SMS: one per number); returns the first
    (None when the channel built nothing to send)."""
    provider = config.get_provider()
    items = []
    for index, payload in enumerate(provider.build_payloads(alert, purpose, at=at)):
        key = f"alert:{alert.pk}:{purpose}:{sequence}:{config.provider}:{index}"
        payload.update(alert_id=alert.pk, notification_key=key)
        items.append(outbox.enqueue(config, operation=purpose, payload=payload, dedupe_key=key))
    return min(items, key=lambda item: item.pk, default=None)


def channels_for(alert: Alert, purpose: str, configs: dict[str, AlertConfig]) -> list[str]:
    """The channels that hear `purpose` about `alert`, given the organisation's configurations."""
    return [channel for channel, reason in decide(alert, purpose, configs).items() if reason is None]


Reason = tuple[Outcome, str]


def decide(
    alert: Alert, purpose: str, configs: dict[str, AlertConfig], *, exclude: tuple[str, ...] = ()
) -> dict[str, Reason | None]:
    """Every channel concerned by `purpose`, in channel order, with None when it is to be told
    or (outcome, reason) when it is not: the one place the rules of who hears what live."""
    told = _told_of(alert) if purpose in STATE_CHANGES else set()
    candidates = _candidates(alert, purpose, configs, told)
    ordered = [c for c in CHANNEL_ORDER if c in candidates] + sorted(candidates - set(CHANNEL_ORDER))
    return {
        channel: _reason_not_to_tell(alert, purpose, channel, configs.get(channel), exclude, told)
        for channel in ordered
    }


def _candidates(alert: Alert, purpose: str, configs: dict[str, AlertConfig], told: set[str]) -> set[str]:
    routing = alert.routing or {}
    routed = set(routing.get("channels", []))
    if purpose in (Purpose.NOTIFY, Purpose.REPEAT, Purpose.WORSE):
        return routed | ({Channel.WEBHOOK.value} if Channel.WEBHOOK in configs else set())
    if purpose == Purpose.ESCALATE:
        return {channel.value for channel in ESCALATION_CHANNELS}
    # a state change concerns every channel that heard of the alert, could have, or is set up
    return routed | set(configs) | told


def _reason_not_to_tell(alert, purpose, channel, config, exclude, told) -> Reason | None:
    routing = alert.routing or {}
    noun = PURPOSE_NOUNS.get(purpose, purpose)
    name = channel_name(channel)
    if channel in exclude:
        return Outcome.NOTHING_TO_TELL, f"the {PURPOSE_SINGULAR.get(purpose, purpose)} came from {name}"
    if purpose in STATE_CHANGES and channel not in STATE_CHANGE_CHANNELS:
        return Outcome.NOTHING_TO_TELL, f"{name} is not told of {noun}"
    if purpose in (Purpose.NOTIFY, Purpose.REPEAT, Purpose.WORSE) and routing.get("muted_by"):
        return Outcome.NOTHING_TO_TELL, f"muted by {routing['muted_by']}"
    if config is None:
        return Outcome.NOT_TOLD, f"no {name} configuration"
    if not config.enabled:
        return Outcome.NOT_TOLD, "its configuration is disabled"
    if purpose not in config.provider_class().purposes:
        return Outcome.NOTHING_TO_TELL, f"{name} is not told of {noun}"
    if purpose in STATE_CHANGES and channel not in told:
        return Outcome.NOTHING_TO_TELL, "it was never told of this alert"
    if channel == Channel.WEBHOOK and purpose in (Purpose.NOTIFY, Purpose.REPEAT, Purpose.WORSE):
        if Channel.WEBHOOK in routing.get("excluded_channels", []):
            return Outcome.NOTHING_TO_TELL, "excluded when the alert was raised"
        if channel not in routing.get("channels", []) and not config.get_provider().subscribes_to(
            alert.effective_severity
        ):
            return Outcome.NOTHING_TO_TELL, f"its subscription does not include {alert.effective_severity} alerts"
    return None


def _told_of(alert: Alert) -> set[str]:
    """Channels that were given the alert (first notification, or added when it got worse)."""
    return set(
        FAMILY.retry_model.objects.filter(
            Q(dedupe_key__startswith=f"alert:{alert.pk}:{Purpose.NOTIFY}:")
            | Q(dedupe_key__startswith=f"alert:{alert.pk}:{Purpose.WORSE}:")  # a channel added when it got worse
        ).values_list("provider", flat=True)
    )


def dispatch_pairs(pairs: list[Pair]) -> None:
    """Hand each (organisation, provider) to a worker; one slow channel never delays another.
    The task is named, not imported (tasks.py registers it), so notify never imports the tasks."""
    queue = settings.ALERTS_TASK_QUEUE or None
    for organisation_id, provider in pairs:
        try:
            current_app.signature(DELIVER_TASK, args=(organisation_id, provider)).apply_async(queue=queue)
        except Exception:  # broker down: the items are safe in the outbox; beat's drain sends them
            logger.exception("alerts.dispatch_failed org=%s provider=%s", organisation_id, provider)


def deliver_now(pairs: list[Pair]) -> None:
    """Deliver in this process (the `alerts test` command): no worker needed."""
    for organisation_id, provider in pairs:
        outbox.drain_pair(FAMILY, organisation_id, provider)

"""Turning an alert event into outbox items, one per channel (and per recipient for SMS).

Each channel is its own (organisation, provider) pair in the kernel outbox, so a Slack outage
queues Slack's items and never delays the SMS or the page. Each channel builds its own stored
bodies (AlertChannel.build_payloads); this module decides who hears what, and when. Items are written in the caller's
transaction and handed to the worker only after it commits (the worker must see the rows).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from wedsync_integrations.integrations import outbox
from wedsync_integrations.tenants.models import Organisation

from .family import FAMILY
from .models import Alert, AlertConfig, Channel, Purpose

logger = logging.getLogger("wedsync.alerts")

ESCALATION_CHANNELS = (Channel.SLACK, Channel.EMAIL, Channel.SMS)
STATE_CHANGE_CHANNELS = (Channel.SLACK, Channel.PAGERDUTY, Channel.WEBHOOK)
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
    organisation = delivering_organisation(alert)
    if organisation is None:
        logger.error("alerts.no_delivering_organisation alert=%s", alert.pk)
        return []
    configs = {
        config.provider: config
        for config in AlertConfig.objects.filter(organisation=organisation, enabled=True).select_related("organisation")
    }
    pairs: list[Pair] = []
    for channel in channels_for(alert, purpose, configs):
        if channel in exclude:
            continue
        config = configs[channel]
        provider = config.get_provider()
        for index, payload in enumerate(provider.build_payloads(alert, purpose, at=at)):
            key = f"alert:{alert.pk}:{purpose}:{sequence}:{channel}:{index}"
            payload.update(alert_id=alert.pk, notification_key=key)
            outbox.enqueue(config, operation=purpose, payload=payload, dedupe_key=key)
            if (config.organisation_id, channel) not in pairs:
                pairs.append((config.organisation_id, channel))
    if dispatch and pairs:
        transaction.on_commit(lambda: dispatch_pairs(pairs))
    return pairs


def channels_for(alert: Alert, purpose: str, configs: dict[str, AlertConfig]) -> list[str]:
    routing = alert.routing or {}
    if purpose in (Purpose.NOTIFY, Purpose.REPEAT, Purpose.WORSE):
        if routing.get("muted_by"):
            return []
        wanted = list(routing.get("channels", []))
        webhook = configs.get(Channel.WEBHOOK)
        excluded = routing.get("excluded_channels", [])
        if (
            webhook
            and Channel.WEBHOOK not in excluded
            and webhook.get_provider().subscribes_to(alert.effective_severity)
        ):
            wanted.append(Channel.WEBHOOK)  # opt-in: any severity the endpoint subscribes to
    elif purpose == Purpose.ESCALATE:
        wanted = list(ESCALATION_CHANNELS)
    else:  # acknowledge / resolve: only channels that were given the alert need to hear about it
        told = set(
            FAMILY.retry_model.objects.filter(
                Q(dedupe_key__startswith=f"alert:{alert.pk}:{Purpose.NOTIFY}:")
                | Q(dedupe_key__startswith=f"alert:{alert.pk}:{Purpose.WORSE}:")  # a channel added when it got worse
            ).values_list("provider", flat=True)
        )
        wanted = [channel for channel in STATE_CHANGE_CHANNELS if channel in told]
    result = []
    for channel in wanted:
        config = configs.get(channel)
        if config is not None and purpose in config.provider_class().purposes and channel not in result:
            result.append(channel)
    return result


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

"""Inbound events the alerts family acts on (registered with the webhooks app's registry).

The webhooks app has already verified the signature, deduplicated and stored the event, and
answered the vendor in time (Slack's 3 seconds); these handlers run afterwards in a worker. They
are idempotent: acknowledging twice changes nothing the second time (an audit entry records the
repeat), and a Twilio callback never moves a delivery's status backwards.

- slack block_actions          Acknowledge / Resolve buttons (value = alert ref), keeps response_url;
                               at the platform's global path only from the alert's own workspace
- pagerduty incident.*         acknowledged / resolved close the loop; triggered records the incident id
- twilio message.status        SMS delivery status, forward only
- datadog / newrelic alert     raise an alert, or auto-resolve it when the monitor recovers
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from django.conf import settings

from webhooks.models import WebhookConfig
from webhooks.registry import handles

from . import lifecycle
from .models import ActionSource, Alert, AlertConfig, Delivery, Severity
from .notify import delivering_organisation

logger = logging.getLogger("wedsync.alerts.inbound")

SLACK_ACTIONS = {"alert_ack": lifecycle.acknowledge, "alert_resolve": lifecycle.resolve}


def _text(value, limit: int = 200) -> str:
    return str(value).strip()[:limit] if isinstance(value, (str, int, float)) else ""


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _belongs(alert: Alert, event) -> bool:
    """An event from one tenant's endpoint may only touch that tenant's alerts."""
    organisation = getattr(event, "organisation", None)
    if organisation is None:
        return True  # a global source (one app for the whole platform)
    if alert.organisation_id is None:
        return organisation.slug == settings.ALERTS_PLATFORM_ORGANISATION
    return alert.organisation_id == organisation.pk


# -- Slack -------------------------------------------------------------------------------------------
@handles("slack", "block_actions")
def slack_button(event) -> list[str]:
    payload = _dict(event.payload)
    user = _dict(payload.get("user"))
    who = _text(user.get("username") or user.get("name")) or _text(user.get("id")) or "unknown"
    actor = f"slack:{who}" + (f" ({_text(user.get('id'))})" if user.get("id") and who != user.get("id") else "")
    outcomes = []
    for action in payload.get("actions") or []:
        action = _dict(action)
        handler = SLACK_ACTIONS.get(action.get("action_id"))
        if handler is None:
            continue  # "Open alert page" is a URL button: Slack still sends it, nothing to do
        alert = _alert_by_ref(action.get("value"))
        if alert is None or not _belongs(alert, event):
            logger.warning("alerts.slack_unknown_alert value=%s", _text(action.get("value"), 40))
            outcomes.append(f"unknown alert {_text(action.get('value'), 40)!r}")
            continue
        if not _from_alerts_workspace(alert, event, payload):
            logger.warning(
                "alerts.slack_foreign_workspace alert=%s teams=%s", alert.ref, ",".join(_slack_teams(payload))
            )
            outcomes.append(f"alert {alert.ref!r} is not from this Slack workspace: ignored")
            continue
        lifecycle.remember_slack_response_url(alert.pk, _text(payload.get("response_url"), 2000), event.received_at)
        result = handler(alert.pk, by=actor, via=ActionSource.SLACK, at=event.received_at)
        outcomes.append(result.message)
    return outcomes


# The T… (or E… on Enterprise Grid) segment of an incoming webhook URL (/services/T…/B…/…) names the
# workspace it posts to; searched, not anchored, so a sandbox's /slack/services/… prefix works too.
_WEBHOOK_TEAM = re.compile(r"/services/([TE][A-Z0-9]+)/B")


def _from_alerts_workspace(alert: Alert, event, payload: dict) -> bool:
    """At the global path one platform signing secret covers every workspace that installed the
    app, and anyone holding one of its incoming webhooks can post a button carrying any alert ref
    (refs are sequential). So a click there counts only from a workspace the alert's organisation
    posts its alerts to, or claimed on its inbound Slack source; otherwise another tenant could
    acknowledge the alert and take its later updates through their own response_url. A tenant's
    own path is verified with that tenant's own secret, and _belongs has already checked it."""
    if getattr(event, "organisation", None) is not None:
        return True
    teams = _slack_teams(payload)
    return bool(teams) and not teams.isdisjoint(_workspaces_of(alert))


def _slack_teams(payload: dict) -> set[str]:
    """The workspace the click came from, as Slack states it in the signed payload."""
    teams = {_text(_dict(payload.get("team")).get("id"), 32), _text(_dict(payload.get("user")).get("team_id"), 32)}
    return teams - {""}


def _workspaces_of(alert: Alert) -> set[str]:
    organisation = delivering_organisation(alert)
    if organisation is None:
        return set()
    teams = set()
    slack = AlertConfig.objects.filter(organisation=organisation, provider="slack").first()
    if slack is not None:
        match = _WEBHOOK_TEAM.search(urlsplit(str(slack.secrets.get("webhook_url") or "")).path)
        if match:
            teams.add(match.group(1))
    inbound = WebhookConfig.objects.filter(organisation=organisation, provider="slack").first()
    if inbound is not None and (inbound.settings or {}).get("team_id"):
        teams.add(str(inbound.settings["team_id"]))
    return teams


def _alert_by_ref(value) -> Alert | None:
    pk = Alert.pk_from_ref(_text(value, 40))
    return Alert.objects.filter(pk=pk).first() if pk is not None else None


# -- PagerDuty -----------------------------------------------------------------------------------------
PAGERDUTY_ACTIONS = {"incident.acknowledged": lifecycle.acknowledge, "incident.resolved": lifecycle.resolve}


@handles("pagerduty", "incident.acknowledged", "incident.resolved", "incident.triggered")
def pagerduty_incident(event) -> str:
    envelope = _dict(event.payload)
    body = _dict(envelope.get("event")) or envelope
    data = _dict(body.get("data"))
    event_type = _text(body.get("event_type")) or event.event_type
    alert = _alert_for_incident(data)
    if alert is None or not _belongs(alert, event):
        return "no matching alert"
    incident_id = _text(data.get("id"), 64)
    if incident_id and alert.pagerduty_incident_id != incident_id:
        Alert.objects.filter(pk=alert.pk).update(pagerduty_incident_id=incident_id)
    handler = PAGERDUTY_ACTIONS.get(event_type)
    if handler is None:
        return f"recorded incident {incident_id} for {alert.ref}"
    agent = _dict(body.get("agent"))
    actor = "pagerduty:" + (_text(agent.get("summary")) or _text(agent.get("id")) or "PagerDuty")
    return handler(alert.pk, by=actor, via=ActionSource.PAGERDUTY, at=event.received_at).message


def _alert_for_incident(data: dict) -> Alert | None:
    """Match on incident_key (= our dedup_key for Events-API incidents); fall back to the
    incident id recorded earlier, since the key's presence is not guaranteed (docs/vendors/pagerduty.md)."""
    key = _text(data.get("incident_key"), 255)
    if key.startswith("wedsync:"):
        scope, _, ref = key.removeprefix("wedsync:").rpartition(":")
        alert = _alert_by_ref(ref)
        if alert is not None and alert.scope == scope:
            return alert
    incident_id = _text(data.get("id"), 64)
    if incident_id:
        return Alert.objects.filter(pagerduty_incident_id=incident_id).order_by("-raised_at").first()
    return None


# -- Twilio --------------------------------------------------------------------------------------------
# Callbacks arrive out of order: a status only replaces one of a lower rank.
TWILIO_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "partially_delivered": 4,
    "canceled": 4,
    "read": 5,
}


@handles("twilio", "message.status")
def twilio_status(event) -> str:
    payload = _dict(event.payload)
    sid = _text(payload.get("MessageSid") or payload.get("SmsSid"), 64)
    status = _text(payload.get("MessageStatus") or payload.get("SmsStatus"), 32).lower()
    if not sid or status not in TWILIO_STATUS_RANK:
        return "ignored: no MessageSid or unknown status"
    delivery = (
        Delivery.objects.filter(vendor_ref=sid, channel="sms").select_related("alert").order_by("-attempt").first()
    )
    if delivery is None or not _belongs(delivery.alert, event):
        return f"no delivery with sid {sid}"
    current = TWILIO_STATUS_RANK.get(delivery.vendor_status, -1)
    if TWILIO_STATUS_RANK[status] <= current:
        return f"kept {delivery.vendor_status} (callback {status} is not newer)"
    fields = {"vendor_status": status}
    if payload.get("ErrorCode"):
        fields["vendor_error_code"] = _text(payload.get("ErrorCode"), 32)
    # Conditional update: a concurrent callback with a later status must win.
    lower = [name for name, rank in TWILIO_STATUS_RANK.items() if rank < TWILIO_STATUS_RANK[status]]
    Delivery.objects.filter(pk=delivery.pk, vendor_status__in=[*lower, ""]).update(**fields)
    return f"{sid}: {status}"


# -- Datadog and New Relic alert notifications ----------------------------------------------------------
DATADOG_PRIORITY = {
    "P1": Severity.CRITICAL,
    "P2": Severity.HIGH,
    "P3": Severity.MEDIUM,
    "P4": Severity.LOW,
    "P5": Severity.LOW,
}
DATADOG_TYPE = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "info": Severity.LOW}
NEWRELIC_PRIORITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}
RECOVERED = {"recovered", "ok", "resolved", "closed", "success"}


@handles("datadog", "alert")
def datadog_alert(event) -> str:
    p = {str(k).lower(): v for k, v in _dict(event.payload).items()}
    monitor = _text(p.get("alert_id") or p.get("monitor_id") or p.get("id"), 64)
    title = _text(p.get("title") or p.get("event_title")) or "Datadog monitor alert"
    transition = _text(p.get("alert_transition") or p.get("transition")).lower()
    severity = DATADOG_PRIORITY.get(_text(p.get("priority")).upper()) or DATADOG_TYPE.get(
        _text(p.get("alert_type")).lower(), Severity.MEDIUM
    )
    recovered = transition in RECOVERED or _text(p.get("alert_type")).lower() == "success"
    return _from_monitor(
        event,
        "datadog",
        monitor or title,
        title,
        severity,
        recovered,
        description=_text(p.get("body") or p.get("event_msg"), 3000),
        link=_text(p.get("link"), 500),
    )


@handles("newrelic", "alert")
def newrelic_alert(event) -> str:
    p = _dict(event.payload)
    issue = _text(p.get("issueId") or p.get("id") or p.get("incident_id"), 64)
    title = _text(p.get("title") or p.get("condition_name")) or "New Relic issue"
    if isinstance(p.get("title"), list) and p["title"]:
        title = _text(p["title"][0])
    state = _text(p.get("state") or p.get("current_state")).lower()
    severity = NEWRELIC_PRIORITY.get(_text(p.get("priority") or p.get("severity")).upper(), Severity.MEDIUM)
    return _from_monitor(
        event,
        "newrelic",
        issue or title,
        title,
        severity,
        state in RECOVERED,
        description=_text(p.get("details") or p.get("description"), 3000),
        link=_text(p.get("issueUrl") or p.get("incident_url"), 500),
    )


def _from_monitor(event, source, monitor_id, title, severity, recovered, *, description="", link="") -> str:
    organisation = getattr(event, "organisation", None)
    dedup_key = f"{source}:{monitor_id}"
    if recovered:
        open_key = Alert.make_open_key(organisation.pk if organisation else None, dedup_key)
        alert = Alert.objects.filter(open_key=open_key).first()
        if alert is None:
            return "recovery for no open alert"
        return lifecycle.resolve(alert.pk, by=f"{source}:monitor", via=ActionSource.AUTO, at=event.received_at).message
    result = lifecycle.raise_alert(
        organisation=organisation,
        title=title,
        description=description,
        severity=severity,
        source=source,
        kind="vendor_alert",
        dedup_key=dedup_key,
        details={"monitor": monitor_id, "link": link, "component": source} if link else {"monitor": monitor_id},
        at=event.received_at,
    )
    state = "raised" if result.created else f"occurrence {result.alert.occurrence_count}"
    return f"{result.alert.ref} {state}"

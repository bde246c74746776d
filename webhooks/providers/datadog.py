"""Datadog monitor notifications through the Datadog Webhooks integration.

Recommended webhook payload (Datadog template variables) so dedupe and the alerts family have
what they need:

    {"id": "$ID", "alert_id": "$ALERT_ID", "alert_transition": "$ALERT_TRANSITION",
     "alert_cycle_key": "$ALERT_CYCLE_KEY", "title": "$EVENT_TITLE", "body": "$EVENT_MSG",
     "priority": "$ALERT_PRIORITY", "tags": "$TAGS", "date": "$DATE", "link": "$LINK",
     "org": {"id": "$ORG_ID", "name": "$ORG_NAME"}}

with custom header {"Authorization": "Bearer <the signing_secret configured here>"}.
Dedupe on "id" ($ID: one per notification). See _alerting.py for the auth choices.

Vendor facts: docs/vendors/datadog.md ("Monitor notifications").
"""

from __future__ import annotations

from ..family import FAMILY
from ..verification import SharedSecretHeader
from ._alerting import AlertNotificationSource


@FAMILY.register
class Datadog(AlertNotificationSource):
    name = "datadog"
    label = "Datadog (monitor notifications)"
    scheme = SharedSecretHeader()
    default_dedupe_fields = ("id",)

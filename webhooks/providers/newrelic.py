"""New Relic alert notifications through a workflow's Webhook destination.

Keep the default workflow payload (it carries the issue id as "id", "state", "updatedAt", "title",
"priority", "issueUrl", …; a custom template may name the id "issueId") and set the destination's
authentication to Bearer token = the signing_secret configured here. Dedupe on issue id + state +
updatedAt: one event per issue state change. See _alerting.py for the auth choices and
docs/vendors/newrelic.md for the payload.
"""

from __future__ import annotations

from ..family import FAMILY
from ..verification import SharedSecretHeader
from ._alerting import AlertNotificationSource


@FAMILY.register
class NewRelic(AlertNotificationSource):
    name = "newrelic"
    label = "New Relic (workflow notifications)"
    scheme = SharedSecretHeader()
    default_dedupe_fields = (("issueId", "id"), "state", "updatedAt")

"""New Relic alert notifications through a workflow's Webhook destination.

Keep the default workflow payload (it carries "issueId", "state", "title", "priority",
"issueUrl", …) and set the destination's authentication to Bearer token = the signing_secret
configured here. Dedupe on issueId + state + updatedAt: one event per issue state change.
See _alerting.py for the auth choices.
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
    default_dedupe_fields = ("issueId", "state", "updatedAt")

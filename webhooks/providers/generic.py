"""Any partner or tool that can sign Standard Webhooks (our own outbound format too).

Event type: the body's "type" (hierarchical, dot-separated). Dedupe: webhook-id (signed).
CRM tools without their own source use "crm.client.created" / "crm.booking.created".

Scheme: docs/vendors/standard-webhooks.md.
"""

from __future__ import annotations

from ..family import FAMILY
from ._standard import StandardWebhooksSource


@FAMILY.register
class Generic(StandardWebhooksSource):
    name = "generic"
    label = "Generic (Standard Webhooks)"

"""HoneyBook has no public API or webhook contract (docs/vendors/inbound-signatures.md). Its events reach us through the
customer's Zapier zap (HoneyBook trigger → "Webhooks by Zapier" POST), signed with Standard
Webhooks by a Code step or any relay holding the organisation's whsec_ secret.

Event type: the body's "type" (Standard Webhooks payload: {"type", "timestamp", "data"}), e.g.
"client.created", "project.booked". Dedupe: webhook-id (signed).
"""

from __future__ import annotations

from ..family import FAMILY
from ._standard import StandardWebhooksSource


@FAMILY.register
class HoneyBook(StandardWebhooksSource):
    name = "honeybook"
    label = "HoneyBook (via Zapier, Standard Webhooks)"

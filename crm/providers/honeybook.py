"""HoneyBook, through the studio's own Zapier zap: HoneyBook has no public API.

Contract (docs/vendors/honeybook.md): HoneyBook publishes no developer API, OAuth client or
webhook contract; its official routes are native integrations and Zapier. So the report is
POSTed as flat JSON to the studio's Zapier "Catch Hook" URL (secret `hook_url`: the URL is the
credential), and the studio's zap writes it into HoneyBook. Zapier answers every POST to a
catch hook with 200 `{"status": "success", "request_id": …}` whether or not a zap runs behind it,
and follows no redirects; a resend is not deduplicated by Zapier, so every payload carries a
`report_id` stable per organisation and month for the zap to filter on.

With `signing_secret` set, requests are signed with Standard Webhooks headers (`webhook-id` =
the report_id, the same on every retry; `webhook-timestamp`; `webhook-signature`), which a
"Catch Raw Hook" + Code step can verify; Zapier itself checks nothing.

Flat keys: organisation, organisation_name, period, requests, successful_requests,
time_saved_hours, cost_savings_gbp, revenue_opportunity_gbp, client_retention_improvement_pct,
the derived figures (value.ValueReport.figures), report_id and `summary` (the report as text,
ready for a HoneyBook note). Money is a decimal string with two decimals.
"""

from __future__ import annotations

import json
import time

from rest_framework import serializers

from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.http import json_object
from wedsync_integrations.integrations.registry import (
    DeliveryResult,
    HealthResult,
    OutboundURLField,
    StrictSerializer,
    validate_whsec,
)
from wedsync_integrations.integrations.signing import standard_webhooks_headers
from wedsync_integrations.integrations.ssrf import check_outbound_url

from .. import render
from ..family import FAMILY
from ..value import ValueReport
from .base import CRMProvider, MonthField

USER_AGENT = "WedSync-Webhooks/1"
GONE = (404, 410)  # the hook no longer exists (zap deleted or its URL changed)


class HoneyBookSettings(StrictSerializer):
    first_month = MonthField()


class HoneyBookSecrets(StrictSerializer):
    hook_url = OutboundURLField(
        help_text="the studio's Zapier 'Catch Hook' URL (https://hooks.zapier.com/hooks/catch/…): "
        "whoever has it can post to the zap, so it is kept as a secret"
    )
    signing_secret = serializers.CharField(
        required=False,
        allow_blank=True,
        validators=[validate_whsec],
        help_text="optional whsec_… secret: requests are then signed with Standard Webhooks headers",
    )


def encode(body: dict) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON in a fixed key order."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


class ZapierReport:
    """The stored payload: the flat report the zap receives."""

    @staticmethod
    def for_report(report: ValueReport) -> dict:
        return {"body": {**report.figures(), "summary": render.report_document(report).as_text()}}


@FAMILY.register
class HoneyBook(CRMProvider):
    name = "honeybook"
    label = "HoneyBook (via the studio's Zapier zap: HoneyBook has no public API)"
    settings_serializer = HoneyBookSettings
    secrets_serializer = HoneyBookSecrets
    allows = (
        "HoneyBook has no public API, OAuth or webhook contract. WedSync posts the monthly report "
        "as flat JSON to the studio's own Zapier 'Catch Hook' URL; the studio's zap writes it into "
        "HoneyBook (for example as a project note). Zapier acknowledges every post whether or not "
        "its zap runs, so 'delivered' here means 'Zapier has it'. A resend carries the same "
        "report_id; Zapier does not deduplicate, so the zap should filter on it."
    )

    def report_payload(self, report: ValueReport) -> dict:
        return ZapierReport.for_report(report)

    def send_report(self, payload: dict) -> DeliveryResult:
        url = self.secret("hook_url")
        body = encode(payload["body"])
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.secrets.get("signing_secret"):
            report_id = payload["body"]["report_id"]
            headers.update(standard_webhooks_headers(self.secrets["signing_secret"], report_id, int(time.time()), body))
        try:
            response = self.client(base_url=url, guarded=True).request("POST", url, data=body, headers=headers)
        except PermanentError as exc:
            if exc.status in GONE:
                raise PermanentError(
                    f"honeybook: the Zapier hook answered HTTP {exc.status}: the zap or its URL is gone; "
                    "set the new hook_url and resume",
                    status=exc.status,
                    stops_config=True,
                    response_body=exc.response_body,
                ) from exc
            raise
        reply = json_object(response)
        return DeliveryResult(
            items=1,
            http_status=response.status_code,
            detail={"report_id": payload["body"]["report_id"], "request_id": reply.get("request_id"),
                    "zapier_status": reply.get("status")},
        )  # fmt: skip

    def check_health(self) -> HealthResult:
        """Nothing is sent: any post to a catch hook runs the studio's zap (it would write into
        HoneyBook), and Zapier answers success even with no zap behind it. The check proves the
        hook URL passes the outbound guard and reports the last delivery's outcome."""
        check_outbound_url(self.secret("hook_url"))
        config = self.config
        if config.last_error_at and (config.last_success_at is None or config.last_error_at > config.last_success_at):
            return HealthResult(ok=False, message=f"the last delivery failed: {self.redact(config.last_error)[:300]}")
        last = f"last report delivered {config.last_success_at:%Y-%m-%d %H:%M}" if config.last_success_at else (
            "no report delivered yet")  # fmt: skip
        return HealthResult(ok=True, message=f"hook URL accepted; {last} (no test post: it would run the zap)")

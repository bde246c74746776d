"""Light Blue (UK photography business software): the report into the studio's Light Blue Inbox.

Contract (docs/vendors/lightblue.md): Light Blue's API is inbound-only. `POST
https://online.lightbluesoftware.com/api.php` (HTTPS mandatory), form-encoded UTF-8, with `key`
(the studio's API key) and `type=contact form` (the only type); the item lands in the Inbox, from
which the photographer files it. There is no read, update or delete call and no webhook, so
WedSync reads nothing back and scrapes nothing.

Fields we send: Source=WedSync, SourceAPIVersion, ID=wedsync:{organisation}:{period},
ContactEmail (setting `contact_email`: the studio's own address, so the item files under the
studio), Message (the report as text). Light Blue refuses a repeated (Source, ID) with -4: that
is our idempotency key, and -4 means "already delivered".

The reply is a status code, then an error summary when it failed: 0 success; -4 duplicate (done);
-20 plain HTTP refused and -3 invalid type or no valid parameters (permanent); other codes exist
but are not listed (permanent, shown to staff). Network errors and 5xx are retried by the kernel,
and so is a reply that starts with no status code (safe: the ID makes a resend harmless).
"""

from __future__ import annotations

import re

from rest_framework import serializers

from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.registry import BaseSettings, DeliveryResult, HealthResult, StrictSerializer

from .. import render
from ..family import FAMILY
from ..value import ValueReport
from .base import CRMProvider, MonthField

API = "https://online.lightbluesoftware.com/api.php"
SOURCE = "WedSync"
SOURCE_API_VERSION = "1"
CONTACT_FORM = "contact form"
STATUS = re.compile(r"^\s*(-?\d+)\s*(.*)", re.DOTALL)
DONE, DUPLICATE, HTTPS_REQUIRED, INVALID_REQUEST = 0, -4, -20, -3
# The health check sends a type Light Blue does not have: it answers -3 and creates nothing.
HEALTH_TYPE = "wedsync connection check"


class LightBlueSettings(BaseSettings):
    contact_email = serializers.EmailField(help_text="the studio's own email: the Inbox item is filed under it")
    first_month = MonthField()


class LightBlueSecrets(StrictSerializer):
    api_key = serializers.CharField(
        min_length=8, help_text="the studio's Light Blue API key (My Account page, or Preferences → Integrations)"
    )


class InboxItem:
    """The stored form fields (everything but the key, which is added at send time)."""

    @staticmethod
    def for_report(report: ValueReport, contact_email: str) -> dict:
        return {
            "form": {
                "type": CONTACT_FORM,
                "Source": SOURCE,
                "SourceAPIVersion": SOURCE_API_VERSION,
                "ID": report.report_id,
                "ContactEmail": contact_email,
                "Message": render.report_document(report).as_text(),
            }
        }


def parse_reply(text: str) -> tuple[int | None, str]:
    """(status code, the rest of the reply); code None when the reply does not start with one."""
    match = STATUS.match(text or "")
    if not match:
        return None, (text or "").strip()
    return int(match[1]), match[2].strip()


@FAMILY.register
class LightBlue(CRMProvider):
    name = "lightblue"
    label = "Light Blue (send to the studio's Inbox only: no reads or updates)"
    settings_serializer = LightBlueSettings
    secrets_serializer = LightBlueSecrets
    default_base_url = API
    allows = (
        "Light Blue's API is inbound-only: WedSync can put the monthly report into the studio's "
        "Light Blue Inbox (as a 'contact form' item the photographer files), nothing more. It "
        "cannot read, update or delete anything there, and does not scrape. Light Blue refuses a "
        "repeated report ID (-4), which WedSync counts as already delivered."
    )

    def report_payload(self, report: ValueReport) -> dict:
        return InboxItem.for_report(report, self.settings["contact_email"])

    def send_report(self, payload: dict) -> DeliveryResult:
        code, message = self._post({**payload["form"], "key": self.secret("api_key")})
        report_id = payload["form"]["ID"]
        if code == DONE:
            return DeliveryResult(items=1, http_status=200, detail={"code": code, "id": report_id})
        if code == DUPLICATE:
            # Light Blue already has this (Source, ID): an earlier attempt got through
            return DeliveryResult(items=1, http_status=200, detail={"code": code, "id": report_id, "duplicate": True})
        raise self._refusal(code, message)

    def _post(self, form: dict) -> tuple[int | None, str]:
        response = self.client().request("POST", "", data=form)
        code, message = parse_reply(response.text)
        if code is None:
            raise RetryableError(
                f"lightblue: reply has no status code ({self.redact(message)[:200]!r}); will resend (the ID is "
                "idempotent)",
                status=response.status_code,
            )
        return code, self.redact(message)

    @staticmethod
    def _refusal(code: int, message: str) -> PermanentError:
        if code == HTTPS_REQUIRED:
            return PermanentError(
                f"lightblue: {code}: Light Blue refuses plain HTTP; base_url must be https ({message})",
                stops_config=True,
            )
        if code == INVALID_REQUEST:
            return PermanentError(f"lightblue: {code}: invalid request type or no valid parameters ({message})")
        return PermanentError(f"lightblue: refused with status {code} ({message or 'no explanation given'})")

    def check_health(self) -> HealthResult:
        """Light Blue has no read call: we send a request type it does not have, which it refuses
        with -3 and writes nothing for. That proves the endpoint answers over HTTPS; only a
        delivered report proves the key."""
        code, message = self._post({"key": self.secret("api_key"), "type": HEALTH_TYPE})
        if code == INVALID_REQUEST:
            return HealthResult(
                ok=True, message="Light Blue's API answered over HTTPS (the key is proven by the first report)"
            )
        return HealthResult(ok=False, message=f"Light Blue answered {code} ({message or 'no explanation'})")

"""Looker (docs/vendors/looker.md): Looker has no ingestion API, it queries a database. The metrics are
loaded into reporting tables in the project's own database (bi/reporting.py) after every refresh;
`manage.py bi lookml` writes the model (with a datagroup whose sql_trigger watches the load time)
and the views; `manage.py bi grant_readonly ROLE` gives Looker's connection a read-only role.

After each load this provider makes Looker notice at once instead of at its next trigger check:

    POST  /api/4.0/login                 form body client_id, client_secret -> access_token, expires_in
    GET   /api/4.0/datagroups            find ours by model_name and datagroup_name (id stored)
    PATCH /api/4.0/datagroups/{id}       {"stale_before": now, "triggered_at": now} (never in the future)

Calls carry `Authorization: token <access_token>` (the kernel's SignInSession: renewed before
expiry, once on a 401).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import ClassVar

from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import IssuedToken, SignInSession
from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.registry import DeliveryResult, HealthResult, OutboundURLField, StrictSerializer

from ..export import BIProvider, BISettings
from ..family import FAMILY
from ..models import Destination, RefreshState

API = "/api/4.0"
IDENTIFIER = r"^[a-z_][a-z0-9_]*$"


# -- payload (separate from sending) ---------------------------------------------------------------------
def trigger_body(now: float) -> dict:
    """Mark cached results stale and fire the datagroup, both at `now` (Looker refuses the future)."""
    stamp = int(now)
    return {"stale_before": stamp, "triggered_at": stamp}


class LookerSettings(BISettings):
    base_url = OutboundURLField(help_text="the instance's API host, e.g. https://wedsync.cloud.looker.com")
    model_name = serializers.RegexField(IDENTIFIER, required=False, default="wedsync")
    datagroup_name = serializers.RegexField(IDENTIFIER, required=False, default="wedsync_executive_metrics_etl")


class LookerSecrets(StrictSerializer):
    client_id = serializers.CharField(max_length=200)
    client_secret = serializers.CharField(max_length=500)


@FAMILY.register
class Looker(BIProvider):
    name = "looker"
    label = "Looker"
    settings_serializer = LookerSettings
    secrets_serializer = LookerSecrets
    operation = "trigger_datagroup"
    snapshot: ClassVar[bool] = True
    credentials = SignInSession(header_name="Authorization", header_format="token {token}",
                                required_secrets=("client_id", "client_secret"))  # fmt: skip

    def model_name(self) -> str:
        return self.settings.get("model_name") or "wedsync"

    def datagroup_name(self) -> str:
        return self.settings.get("datagroup_name") or "wedsync_executive_metrics_etl"

    def build_payloads(self, changed_rows, *, changed_up_to: datetime) -> list[dict]:
        state = RefreshState.get()
        loaded = state.reporting_loaded_at.isoformat() if state.reporting_loaded_at else None
        return [{"loaded_at": loaded, "changed_up_to": changed_up_to.isoformat(), "rows": len(changed_rows)}]

    def sign_in(self) -> IssuedToken:
        response = self.client(authenticated=False).request(
            "POST", f"{API}/login",
            data={"client_id": self.secret("client_id"), "client_secret": self.secret("client_secret")},
        )  # fmt: skip
        reply = response.json()
        if not reply.get("access_token"):
            raise PermanentError("looker: login answered without an access token", stops_config=True)
        expires_in = int(reply.get("expires_in") or 3600)
        return IssuedToken(
            access_token=reply["access_token"], expires_at=timezone.now() + timedelta(seconds=expires_in)
        )

    def datagroup_id(self, client) -> str:
        destination = self.destination()
        if destination.vendor_object_id:
            return destination.vendor_object_id
        groups = client.request("GET", f"{API}/datagroups").json()
        match = next(
            (g for g in groups if g.get("model_name") == self.model_name() and g.get("name") == self.datagroup_name()),
            None,
        )
        if match is None:
            raise PermanentError(
                f"looker: no datagroup {self.datagroup_name()!r} in model {self.model_name()!r}; deploy the LookML "
                "from `manage.py bi lookml` first"
            )
        Destination.objects.filter(pk=destination.pk).update(
            vendor_object_id=str(match["id"]), vendor_object_name=f"{self.model_name()}::{self.datagroup_name()}",
            found_or_created="found",
        )  # fmt: skip
        return str(match["id"])

    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        client = self.client()
        group = self.datagroup_id(client)
        body = trigger_body(time.time())
        try:
            response = client.request("PATCH", f"{API}/datagroups/{group}", json=body)
        except PermanentError as exc:
            if exc.status == 404:
                Destination.objects.filter(config=self.config).update(vendor_object_id="")
                raise RetryableError(f"looker: datagroup {group} not found; looked up again on the retry", status=404)
            raise
        reply = response.json() if response.content else {}
        summary = {"datagroup_id": group, "triggered_at": body["triggered_at"], "loaded_at": payload.get("loaded_at"),
                   "trigger_error": reply.get("trigger_error") or ""}  # fmt: skip
        self.received(summary)
        return DeliveryResult(items=payload.get("rows", 0), http_status=response.status_code, detail=summary)

    def check_health(self) -> HealthResult:
        client = self.client()
        user = client.request("GET", f"{API}/user").json()
        groups = client.request("GET", f"{API}/datagroups").json()
        found = any(g.get("model_name") == self.model_name() and g.get("name") == self.datagroup_name() for g in groups)
        state = "found" if found else "not found (deploy the LookML from `manage.py bi lookml`)"
        who = user.get("display_name") or user.get("email") or user.get("id", "?")
        return HealthResult(ok=True, message=f"signed in as {who}; datagroup {self.datagroup_name()!r} {state}",
                            http_status=200)  # fmt: skip

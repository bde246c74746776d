"""Tableau Server / Cloud: the metrics as a published Hyper extract (docs/vendors/tableau.md).

Tableau has no endpoint that takes rows: data goes in as a published data source. Each push builds
two `.hyper` files with Tableau's own engine (bi/hyper.py, table `Extract.Extract`): the metrics
(data source `datasource_name`) and the feature breakdown (`<datasource_name> (features)`), and
publishes each with

    POST /api/{api_version}/sites/{site_id}/datasources?datasourceType=hyper&overwrite=true
    Content-Type: multipart/mixed; boundary=…   parts: request_payload (XML), tableau_datasource (file)

A file above BI_TABLEAU_SINGLE_REQUEST_BYTES (64 MB) goes up in chunks instead: `POST …/fileUploads`,
`PUT …/fileUploads/{id}` per chunk (parts request_payload, tableau_file), then the same publish
with `uploadSessionId` and only the request_payload part. Overwrite makes every publish idempotent:
the extract is rebuilt from the stored metrics at send time, so a retry publishes the latest figures.

Sign-in: a personal access token (`POST /api/{v}/auth/signin`), the session token sent as
X-Tableau-Auth, through the kernel's SignInSession (re-signed-in once on a 401). Signing in again
with the same PAT ends the previous session, so every use of one PAT (publishing, the health check)
holds a cross-process lock on (server, site, PAT name): Tableau jobs of one configuration, or of two
configurations sharing a PAT, never run at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from django.conf import settings
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import IssuedToken, SignInSession
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.ratelimit import ExclusiveUse
from wedsync_integrations.integrations.registry import DeliveryResult, HealthResult, OutboundURLField, StrictSerializer

from .. import hyper
from ..export import BIProvider, ScopedSettings
from ..family import FAMILY
from ..reporting import export_rows
from ..schema import FEATURE_COLUMNS, METRIC_COLUMNS

DEFAULT_DATASOURCE_NAME = "WedSync executive AI metrics"
SESSION_LIFETIME = timedelta(minutes=110)  # Tableau Cloud's default session is 2 h (Server: 240 min)
JSON = "application/json"


# -- payloads (separate from sending) -------------------------------------------------------------------
def request_payload(datasource_name: str, project_id: str) -> bytes:
    return (
        f"<tsRequest><datasource name={quoteattr(datasource_name)}>"
        f"<project id={quoteattr(project_id)}/></datasource></tsRequest>"
    ).encode()


def multipart_mixed(parts: list[tuple[str, str | None, str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/mixed body; parts are (name, filename, content type, bytes)."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/mixed; boundary={boundary}"


# -- configuration -----------------------------------------------------------------------------------------
class TableauSettings(ScopedSettings):
    server_url = OutboundURLField(help_text="e.g. https://10ay.online.tableau.com (Cloud: with the pod)")
    api_version = serializers.RegexField(r"^\d+\.\d+$", required=False, default="3.24", help_text="REST API version")
    site_content_url = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    project_id = serializers.CharField(max_length=64, help_text="LUID of the project the data sources go into")
    datasource_name = serializers.CharField(max_length=200, required=False, default=DEFAULT_DATASOURCE_NAME)
    pat_name = serializers.CharField(max_length=200, help_text="personal access token name")


class TableauSecrets(StrictSerializer):
    pat_secret = serializers.CharField(max_length=500)


@FAMILY.register
class Tableau(BIProvider):
    name = "tableau"
    label = "Tableau"
    settings_serializer = TableauSettings
    secrets_serializer = TableauSecrets
    operation = "publish"
    snapshot: ClassVar[bool] = True
    credentials = SignInSession(
        header_name="X-Tableau-Auth",
        header_format="{token}",
        lifetime=SESSION_LIFETIME,
        required_secrets=("pat_secret",),
    )

    def base_url(self) -> str:
        return f"{self.settings['server_url'].rstrip('/')}/api/{self.settings.get('api_version') or '3.24'}"

    def uses_configured_url(self) -> bool:
        return True

    def datasource_name(self) -> str:
        return self.settings.get("datasource_name") or DEFAULT_DATASOURCE_NAME

    def pat_in_use(self) -> ExclusiveUse:
        """The lock of this PAT's one session (see the module docstring)."""
        host = urlsplit(self.settings["server_url"]).hostname
        site = self.settings.get("site_content_url", "")
        return ExclusiveUse(f"tableau-pat:{host}:{site}:{self.settings['pat_name']}", lease_seconds=1800)

    # -- payloads ---------------------------------------------------------------------------------------
    def build_payloads(self, changed_rows, *, changed_up_to: datetime) -> list[dict]:
        """Tableau gets the scope's whole state, rebuilt at send time: the item says what and since when."""
        return [
            {"scope_keys": self.scope_keys(), "changed_up_to": changed_up_to.isoformat(), "rows": len(changed_rows)}
        ]

    # -- sign-in ----------------------------------------------------------------------------------------
    def sign_in(self) -> IssuedToken:
        body = {
            "credentials": {
                "personalAccessTokenName": self.settings["pat_name"],
                "personalAccessTokenSecret": self.secret("pat_secret"),
                "site": {"contentUrl": self.settings.get("site_content_url", "")},
            }
        }
        response = self.client(authenticated=False).request("POST", "/auth/signin", json=body, headers={"Accept": JSON})
        credentials = response.json().get("credentials") or {}
        if not credentials.get("token") or not (credentials.get("site") or {}).get("id"):
            raise PermanentError("tableau: sign-in answered without a token or site id", stops_config=True)
        return IssuedToken(
            access_token=credentials["token"],
            extra={"site_id": credentials["site"]["id"], "user_id": (credentials.get("user") or {}).get("id", "")},
        )

    def site_id(self) -> str:
        return self.credential_manager.current().extra["site_id"]

    # -- sending ----------------------------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        with self.pat_in_use().held():
            rows = self.current_rows_passing_gates()
            metrics, features = export_rows(rows)
            published = {}
            for name, columns, values in (
                (self.datasource_name(), METRIC_COLUMNS, metrics),
                (f"{self.datasource_name()} (features)", FEATURE_COLUMNS, features),
            ):
                with hyper.temporary_extract() as path:
                    hyper.build(path, columns, values)
                    published[name] = {**self.publish(path, name), "rows": len(values), "bytes": path.stat().st_size}
        summary = {"datasources": published, "rows": len(metrics)}
        first = next(iter(published.values()))
        self.received(summary, vendor_object_id=first.get("id", ""), vendor_object_name=self.datasource_name())
        return DeliveryResult(items=len(metrics) + len(features), http_status=201, detail=summary)

    def publish(self, path: Path, name: str) -> dict:
        """Publish one .hyper file (overwrite); chunked above the single-request limit. Returns the
        data source's id and name."""
        client = self.client()
        site = self.site_id()
        xml = request_payload(name, self.settings["project_id"])
        query = {"datasourceType": "hyper", "overwrite": "true"}
        if path.stat().st_size <= settings.BI_TABLEAU_SINGLE_REQUEST_BYTES - len(xml) - 1024:
            body, content_type = multipart_mixed(
                [("request_payload", None, "text/xml", xml),
                 ("tableau_datasource", path.name, "application/octet-stream", path.read_bytes())]
            )  # fmt: skip
        else:
            query["uploadSessionId"] = self.upload_in_chunks(client, site, path)
            body, content_type = multipart_mixed([("request_payload", None, "text/xml", xml)])
        response = client.request(
            "POST", f"/sites/{site}/datasources", params=query, data=body,
            headers={"Content-Type": content_type, "Accept": JSON},
        )  # fmt: skip
        datasource = response.json().get("datasource") or {}
        return {"id": datasource.get("id", ""), "name": datasource.get("name", name)}

    def upload_in_chunks(self, client, site: str, path: Path) -> str:
        started = client.request("POST", f"/sites/{site}/fileUploads", headers={"Accept": JSON}).json()
        session = started["fileUpload"]["uploadSessionId"]
        with path.open("rb") as handle:
            while chunk := handle.read(settings.BI_TABLEAU_CHUNK_BYTES):
                body, content_type = multipart_mixed(
                    [("request_payload", None, "text/xml", b""),
                     ("tableau_file", "file", "application/octet-stream", chunk)]
                )  # fmt: skip
                client.request(
                    "PUT", f"/sites/{site}/fileUploads/{session}", data=body,
                    headers={"Content-Type": content_type, "Accept": JSON},
                )  # fmt: skip
        return session

    def check_health(self) -> HealthResult:
        lock = self.pat_in_use()
        if lock.busy():
            return HealthResult(
                ok=True, message="a publish is running with this personal access token; not signing in now"
            )
        with lock.held():
            site = self.site_id()
            response = self.client().request(
                "GET", f"/sites/{site}/datasources", params={"filter": f"name:eq:{self.datasource_name()}"},
                headers={"Accept": JSON},
            )  # fmt: skip
        found = bool(((response.json().get("datasources") or {}).get("datasource")) or [])
        state = "published" if found else "not published yet"
        return HealthResult(
            ok=True, message=f"signed in to site {self.settings.get('site_content_url') or '(default)'}; "
            f"data source {self.datasource_name()!r} {state}", http_status=response.status_code,
        )  # fmt: skip

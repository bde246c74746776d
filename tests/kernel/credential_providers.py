"""Test providers for the three credential schemes, registered on the monitoring family by fixtures.

- Ledger: OAuth 2.0 authorization code + PKCE with a refresh token rotated on every refresh
  (like Xero and FreshBooks), HTTP Basic client authentication.
- Warehouse: OAuth 2.0 client credentials (like Entra ID for Power BI), client_secret_post.
- Workbook: a sign-in session whose token goes in X-Workbook-Auth (like Tableau's X-Tableau-Auth).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import (
    ConnectedAccount,
    IssuedToken,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
    SignInSession,
)
from wedsync_integrations.integrations.registry import (
    BaseSettings,
    DeliveryResult,
    HealthResult,
    OutboundURLField,
    Provider,
    StrictSerializer,
)

LEDGER_API = "https://api.ledger.test"
LEDGER_TOKEN_URL = "https://identity.ledger.test/connect/token"
LEDGER_AUTHORIZE_URL = "https://login.ledger.test/authorize"
WAREHOUSE_API = "https://api.warehouse.test"
WAREHOUSE_TOKEN_URL = "https://login.warehouse.test/tenant-1/oauth2/v2.0/token"
WORKBOOK_API = "https://workbook.test/api/3.27"

CLIENT_ID = "ledger-client-id-0001"
CLIENT_SECRET = "ledger-client-secret-s3cr3t"


class OAuthSettings(BaseSettings):
    token_url = OutboundURLField(required=False)
    authorize_url = OutboundURLField(required=False)
    tenant_id = serializers.CharField(required=False)


class OAuthSecrets(StrictSerializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField()
    refresh_token = serializers.CharField(required=False, allow_blank=True)


class _Delivering(Provider):
    def deliver(self, operation, payload):
        response = self.client().request("POST", "/v1/things", json=payload)
        return DeliveryResult(items=1, http_status=response.status_code)

    def check_health(self):
        response = self.client().request("GET", "/v1/me")
        return HealthResult(ok=True, message=f"signed in as {response.json().get('name', '?')}", http_status=200)


class Ledger(_Delivering):
    name = "ledger"
    label = "Ledger"
    default_base_url = LEDGER_API
    settings_serializer = OAuthSettings
    secrets_serializer = OAuthSecrets
    credentials = OAuth2AuthorizationCode(
        authorize_url=LEDGER_AUTHORIZE_URL,
        token_url=LEDGER_TOKEN_URL,
        scopes=("offline_access", "ledger.write"),
    )

    def connected_account(self, token, callback):
        tenants = self.client(base_url=LEDGER_API).request("GET", "/connections").json()
        return [ConnectedAccount(t["tenantId"], t["tenantName"], {"tenant_id": t["tenantId"]}) for t in tenants]


class ClientCredentialsSecrets(StrictSerializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField()


class Warehouse(_Delivering):
    name = "warehouse"
    label = "Warehouse"
    default_base_url = WAREHOUSE_API
    settings_serializer = OAuthSettings
    secrets_serializer = ClientCredentialsSecrets
    credentials = OAuth2ClientCredentials(
        token_url=WAREHOUSE_TOKEN_URL,
        scopes=("https://analysis.warehouse.test/.default",),
        auth_method="client_secret_post",
    )


class WorkbookSecrets(StrictSerializer):
    pat_secret = serializers.CharField()


class Workbook(_Delivering):
    name = "workbook"
    label = "Workbook"
    default_base_url = WORKBOOK_API
    secrets_serializer = WorkbookSecrets
    credentials = SignInSession(header_name="X-Workbook-Auth", header_format="{token}", lifetime=timedelta(minutes=240))

    def sign_in(self):
        pat = {"personalAccessTokenName": "wedsync", "personalAccessTokenSecret": self.secret("pat_secret")}
        body = {"credentials": pat}
        reply = self.client(authenticated=False).request("POST", "/auth/signin", json=body).json()["credentials"]
        return IssuedToken(access_token=reply["token"], extra={"site_id": reply["site"]["id"]})


def expired_credential(access="old-access", refresh="old-refresh") -> dict:
    return IssuedToken(access, timezone.now() - timedelta(minutes=1), refresh).stored()


def fresh_credential(access="fresh-access", refresh="fresh-refresh") -> dict:
    return IssuedToken(access, timezone.now() + timedelta(minutes=30), refresh).stored()

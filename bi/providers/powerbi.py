"""Power BI push dataset (docs/vendors/powerbi.md).

Token: Entra ID client credentials (`POST https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`,
scope `https://analysis.windows.net/powerbi/api/.default`, form body), through the kernel's
OAuth2ClientCredentials: cached on the configuration until shortly before expiry, renewed once on a 401.

Dataset: found by name in the workspace (`GET /groups/{workspace_id}/datasets`) or created once
(`POST /groups/{workspace_id}/datasets?defaultRetentionPolicy=basicFIFO`); its id is stored (the
Destination row) and used from then on, so a second sync never creates a second dataset. A 404 on
rows (the dataset was deleted in Power BI) forgets the id and looks again on the retry.

Rows: appended with `POST …/datasets/{id}/tables/{table}/rows`, at most BI_POWERBI_MAX_ROWS_PER_REQUEST
(10,000) rows per request, at most BI_POWERBI_MAX_REQUESTS_PER_MINUTE (120) requests per minute and
BI_POWERBI_MAX_PENDING_REQUESTS (5) pending per dataset, counted in the shared cache across every
worker (integrations/ratelimit.py); a 429's Retry-After is honoured by the outbox.

POST rows has no idempotency key. Each outbox item carries a batch id; every request of it is a
batch whose 200 is written to a ledger (PowerBIBatch) at once, and a retried item sends only the
batches without a 200. Each row also carries its `batch_id`, so a report can drop the duplicates
of the one case the ledger cannot see: a request Power BI stored but whose 200 never arrived.

Microsoft stops the creation of *new* push datasets on 31 Oct 2027; existing ones keep working.
Creating the dataset once and reusing its id means an installation set up before then carries on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import OAuth2ClientCredentials
from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.ratelimit import Concurrency, RequestRate
from wedsync_integrations.integrations.registry import DeliveryResult, HealthResult, OutboundURLField, StrictSerializer

from ..export import BIProvider, BISettings, jsonable
from ..family import FAMILY
from ..models import Destination, ExecutiveMetrics, PowerBIBatch
from ..reporting import export_rows
from ..schema import FEATURE_COLUMNS, METRIC_COLUMNS, Column

logger = logging.getLogger("wedsync.bi.powerbi")

API = "https://api.powerbi.com/v1.0/myorg"
SCOPE = "https://analysis.windows.net/powerbi/api/.default"
TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
DEFAULT_DATASET_NAME = "WedSync executive AI metrics"
TABLES = {"executive_metrics": ("ExecutiveMetrics", METRIC_COLUMNS), "feature_usage": ("FeatureUsage", FEATURE_COLUMNS)}
BATCH_COLUMN = "batch_id"
DATA_TYPES = {"text": "String", "date": "DateTime", "datetime": "DateTime", "bool": "Boolean", "count": "Int64",
              "amount": "Decimal"}  # fmt: skip
RETIREMENT_NOTE = "Microsoft stops the creation of new push datasets on 31 Oct 2027 (existing ones keep working)."


# -- payload (separate from sending) ---------------------------------------------------------------------
def data_type(column: Column) -> str:
    return DATA_TYPES.get(column.kind, "Double")


def dataset_definition(name: str) -> dict:
    """The push dataset's definition (docs/vendors/powerbi.md): one table per bi/schema.py list, plus batch_id."""
    return {
        "name": name,
        "defaultMode": "Push",
        "tables": [
            {
                "name": table,
                "columns": [{"name": c.name, "dataType": data_type(c)} for c in columns]
                + [{"name": BATCH_COLUMN, "dataType": "String"}],
            }
            for table, columns in TABLES.values()
        ],
    }


def power_bi_value(column: Column, value):
    if value is None:
        return None
    if column.kind == "date":
        return f"{value.isoformat() if hasattr(value, 'isoformat') else value}T00:00:00"
    return jsonable(value)


def rows_payload(batch_id: str, metrics: list[dict], features: list[dict]) -> dict:
    """One outbox item: the rows of each table, ready to post, stamped with the batch id."""

    def convert(rows, columns):
        return [
            {**{c.name: power_bi_value(c, row.get(c.name)) for c in columns}, BATCH_COLUMN: batch_id} for row in rows
        ]

    return {
        "batch_id": batch_id,
        "tables": {
            "executive_metrics": convert(metrics, METRIC_COLUMNS),
            "feature_usage": convert(features, FEATURE_COLUMNS),
        },
    }


# -- configuration -----------------------------------------------------------------------------------------
class PowerBISettings(BISettings):
    tenant_id = serializers.RegexField(
        r"^[A-Za-z0-9.-]{1,100}$", required=False, help_text="Entra tenant id (GUID) or domain"
    )
    token_url = OutboundURLField(required=False, help_text="default: built from tenant_id")
    workspace_id = serializers.RegexField(r"^[A-Za-z0-9-]{1,64}$", help_text="the workspace (group) id")
    dataset_name = serializers.CharField(max_length=200, required=False, default=DEFAULT_DATASET_NAME)


class PowerBISecrets(StrictSerializer):
    client_id = serializers.CharField(max_length=200)
    client_secret = serializers.CharField(max_length=500)


class EntraClientCredentials(OAuth2ClientCredentials):
    """Entra ID's token endpoint is per tenant: built from the tenant_id setting unless token_url is set."""

    def token_endpoint(self, provider) -> str:
        return provider.settings.get("token_url") or TOKEN_URL.format(tenant_id=provider.settings.get("tenant_id", ""))


@FAMILY.register
class PowerBI(BIProvider):
    name = "powerbi"
    label = "Power BI"
    settings_serializer = PowerBISettings
    secrets_serializer = PowerBISecrets
    default_base_url = API
    operation = "rows"
    credentials = EntraClientCredentials(scopes=(SCOPE,), auth_method="client_secret_post")

    @classmethod
    def validate_combination(cls, settings: dict, secrets: dict) -> dict[str, str]:
        if not settings.get("tenant_id") and not settings.get("token_url"):
            return {"settings.tenant_id": "required (the token endpoint is built from it) unless token_url is set"}
        return {}

    def rows(self):
        """A push dataset keeps ~200,000 rows per table (basicFIFO): it gets BI_POWERBI_HISTORY_DAYS of history."""
        since = timezone.localdate() - timedelta(days=settings.BI_POWERBI_HISTORY_DAYS)
        return super().rows().filter(period_end__gt=since)

    # -- payloads ---------------------------------------------------------------------------------------
    def build_payloads(self, changed_rows, *, changed_up_to: datetime) -> list[dict]:
        """Items of at most one request's worth of metric rows (with their breakdowns), read in chunks."""
        per_item = settings.BI_POWERBI_MAX_ROWS_PER_REQUEST
        ids = list(changed_rows.order_by("pk").values_list("pk", flat=True))
        payloads = []
        for index, start in enumerate(range(0, len(ids), per_item)):
            chunk = ExecutiveMetrics.objects.filter(pk__in=ids[start : start + per_item]).select_related("organisation")
            metrics, features = export_rows(chunk.order_by("pk"))
            batch_id = f"{self.config.pk}-{changed_up_to:%Y%m%dT%H%M%S%f}-{index}"
            payloads.append(rows_payload(batch_id, metrics, features))
        return payloads

    # -- sending ----------------------------------------------------------------------------------------
    def workspace(self) -> str:
        return self.settings["workspace_id"]

    def dataset_name(self) -> str:
        return self.settings.get("dataset_name") or DEFAULT_DATASET_NAME

    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        dataset_id = self.ensure_dataset()
        client = self.client()
        limit = settings.BI_POWERBI_MAX_ROWS_PER_REQUEST
        sent = skipped = rows_sent = 0
        for key in TABLES:  # metrics before their breakdowns (a stored payload's key order is not kept)
            rows, table = payload["tables"].get(key, []), TABLES[key][0]
            for number, start in enumerate(range(0, len(rows), limit)):
                batch_key = f"{dataset_id}:{payload['batch_id']}:{table}:{number}"
                if PowerBIBatch.objects.filter(batch_key=batch_key).exists():
                    skipped += 1  # answered 200 before: never sent twice
                    continue
                part = rows[start : start + limit]
                self.post_rows(client, dataset_id, table, part)
                PowerBIBatch.objects.create(
                    config=self.config, dataset_id=dataset_id, table=table, batch_key=batch_key, rows=len(part),
                    sent_at=timezone.now(),
                )  # fmt: skip
                sent += 1
                rows_sent += len(part)
        counts = {TABLES[key][0]: len(rows) for key, rows in payload["tables"].items()}
        summary = {"dataset_id": dataset_id, "batch_id": payload["batch_id"], "rows": counts,
                   "requests": sent, "batches_already_sent": skipped}  # fmt: skip
        self.received(summary)
        return DeliveryResult(items=rows_sent, http_status=200, detail=summary)

    def post_rows(self, client, dataset_id: str, table: str, rows: list[dict]) -> None:
        path = f"/groups/{self.workspace()}/datasets/{dataset_id}/tables/{table}/rows"
        pending = Concurrency(f"powerbi:{dataset_id}", limit=settings.BI_POWERBI_MAX_PENDING_REQUESTS)
        per_minute = RequestRate(
            f"powerbi:{dataset_id}", limit=settings.BI_POWERBI_MAX_REQUESTS_PER_MINUTE, per_seconds=60
        )
        try:
            with pending.slot(), per_minute.spend():
                client.request("POST", path, json={"rows": rows})
        except PermanentError as exc:
            if exc.status == 404:
                Destination.objects.filter(config=self.config).update(vendor_object_id="", found_or_created="")
                raise RetryableError(
                    f"powerbi: dataset {dataset_id} or table {table} not found (deleted in Power BI?); "
                    "it is looked up or created again on the retry",
                    status=404,
                ) from exc
            raise

    def ensure_dataset(self) -> str:
        """The stored dataset id; else the dataset found by name, else created once. Stored either way."""
        destination = self.destination()
        if destination.vendor_object_id:
            return destination.vendor_object_id
        client = self.client()
        name = self.dataset_name()
        listing = client.request("GET", f"/groups/{self.workspace()}/datasets").json()
        matches = [item for item in listing.get("value", []) if item.get("name") == name]
        if matches:
            dataset_id, how = matches[0]["id"], "found"
            if len(matches) > 1:
                logger.warning("bi.powerbi.duplicate_datasets name=%r ids=%s", name, [m["id"] for m in matches])
        else:
            response = client.request(
                "POST",
                f"/groups/{self.workspace()}/datasets",
                params={"defaultRetentionPolicy": "basicFIFO"},
                json=dataset_definition(name),
            )
            dataset_id, how = response.json()["id"], "created"
        Destination.objects.filter(pk=destination.pk).update(
            vendor_object_id=dataset_id, vendor_object_name=name, found_or_created=how
        )
        logger.info("bi.powerbi.dataset %s id=%s name=%r", how, dataset_id, name)
        return dataset_id

    def check_health(self) -> HealthResult:
        response = self.client().request("GET", f"/groups/{self.workspace()}/datasets")
        names = [item.get("name") for item in response.json().get("value", [])]
        state = "present" if self.dataset_name() in names else "not created yet (the first push creates it)"
        return HealthResult(
            ok=True,
            message=f"token and workspace {self.workspace()} OK; dataset {self.dataset_name()!r} {state}. "
            + RETIREMENT_NOTE,
            http_status=response.status_code,
        )

"""The OpenAPI schema documents the ingest API as it really behaves."""

from __future__ import annotations

import pytest
import yaml

from wedsync_integrations.usage.serializers import UsageRecordSerializer
from wedsync_integrations.usage.validation import REQUIRED_FIELDS, WIRE_FIELDS


def test_schema_serializer_and_runtime_validation_describe_the_same_fields():
    documented = UsageRecordSerializer().fields

    assert set(documented) == set(WIRE_FIELDS)
    assert {name for name, f in documented.items() if f.required} == set(REQUIRED_FIELDS)


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_documents_the_ingest_operation(schema):
    operation = schema["paths"]["/api/v1/usage/"]["post"]

    assert operation["operationId"] == "usage_ingest"
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/UsageBatch")
    assert set(operation["responses"]) == {"200", "400", "401", "403", "411", "413", "415"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/IngestReply")
    assert operation["security"] == [{"usageToken": []}]
    assert schema["components"]["securitySchemes"]["usageToken"] == {"type": "http", "scheme": "bearer"}


def test_schema_describes_records_and_replies(schema):
    components = schema["components"]["schemas"]
    record = components["UsageRecord"]
    batch = components["UsageBatch"]
    reply = components["IngestReply"]

    assert set(record["required"]) == set(REQUIRED_FIELDS)
    assert record["properties"]["cost_usd"]["type"] == "string"
    assert record["properties"]["cost_usd"]["pattern"] == r"^\d+(\.\d+)?$"
    assert record["properties"]["occurred_at"]["format"] == "date-time"
    assert batch["properties"]["records"]["maxItems"] == 1000
    assert set(reply["required"]) == {"accepted", "duplicates", "rejected"}

"""/healthz, /readyz and /metrics: what a load balancer and a Prometheus scraper rely on."""

import pytest

from wedsync_integrations.core import views
from wedsync_integrations.integrations import outbox

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_is_up(client):
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_readyz_checks_database_broker_and_cache(client):
    reply = client.get("/readyz")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "cache"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_is_503_and_names_the_dependency_that_is_down(client, monkeypatch):
    def broker_down():
        raise ConnectionRefusedError("amqp://guest:s3cret@10.0.0.5 refused")

    monkeypatch.setitem(views.READINESS_CHECKS, "broker", broker_down)
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == {"ok": False, "error": "ConnectionRefusedError"}
    assert "s3cret" not in reply.content.decode()  # the failure names the dependency, never its credentials


def test_metrics_exposes_the_service_metrics_in_prometheus_text_format(client, fake_provider, make_config,
                                                                        organisation):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    outbox.enqueue(config, operation="send", payload={"n": 1})
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/plain; version=0.0.4")
    text = reply.content.decode()
    assert "# TYPE wedsync_http_requests_total counter" in text
    assert 'wedsync_outbox_items{family="monitoring",provider="fake",state="pending"} 1.0' in text


def test_metrics_can_require_a_bearer_token(client, settings):
    settings.METRICS_BEARER_TOKEN = "scrape-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200


def test_every_reply_carries_a_correlation_id(client):
    reply = client.get("/healthz", HTTP_X_REQUEST_ID="lb-4f2a9c")
    assert reply["X-Request-ID"] == "lb-4f2a9c"
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32 and generated != "lb-4f2a9c"


def test_requests_are_counted_by_view_name_not_raw_path(client):
    client.get("/healthz")
    client.get("/no-such-page-12345")
    text = client.get("/metrics").content.decode()
    assert 'wedsync_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert 'view="unmatched"' in text
    assert "no-such-page-12345" not in text

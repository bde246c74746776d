"""Issue 14, item 5: a correctly signed webhook sent chunked (no Content-Length) was read as an
empty body (Django stops at the declared length, 0), failed its signature and was logged as a
forged attempt. A server that ends the de-chunked stream (gunicorn: wsgi.input_terminated) is
now read within the size cap and verified; any other server gets 411, as the usage API answers."""

from __future__ import annotations

import io
import json
import os

import pytest
import requests
from django.test import Client

from webhooks.models import InboundEvent, RejectedAttempt

from . import vendors
from .conftest import WHSEC

pytestmark = pytest.mark.django_db


def _wsgi_post(path: str, body: bytes, headers: dict[str, str], *, input_terminated: bool) -> tuple[int, bytes]:
    """POST through Django's WSGI handling as gunicorn (or wsgiref) hands over a chunked request:
    Transfer-Encoding: chunked, no CONTENT_LENGTH, wsgi.input already de-chunked. (The test
    client's handler, so the test's database connection survives the request.)"""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "REMOTE_ADDR": "203.0.113.9",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    if input_terminated:
        environ["wsgi.input_terminated"] = True
    response = Client().request(**environ)
    return response.status_code, response.content


@pytest.fixture
def generic_source(organisation, webhook_config):
    webhook_config("generic", organisation, WHSEC)
    return f"{vendors.API}/generic/{organisation.slug}/"


def test_a_signed_chunked_webhook_is_read_to_its_end_and_stored(generic_source):
    body = vendors.as_json({"type": "crm.client.created", "data": {"id": "c_1"}})

    status, reply = _wsgi_post(
        generic_source, body, vendors.standard_headers(WHSEC, "msg_1", body), input_terminated=True
    )

    assert status == 200, reply
    assert InboundEvent.objects.get().payload == json.loads(body)
    assert not RejectedAttempt.objects.exists()  # not taken for a forgery


def test_a_chunked_body_over_the_cap_is_a_413(generic_source, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64
    body = vendors.as_json({"type": "crm.client.created", "data": {"id": "c_" + "x" * 100}})

    status, _ = _wsgi_post(generic_source, body, vendors.standard_headers(WHSEC, "msg_1", body), input_terminated=True)

    assert status == 413
    assert not InboundEvent.objects.exists() and not RejectedAttempt.objects.exists()


def test_a_server_that_cannot_end_a_chunked_body_gets_a_411_not_a_forgery_record(generic_source):
    body = vendors.as_json({"type": "crm.client.created", "data": {"id": "c_1"}})

    status, reply = _wsgi_post(
        generic_source, body, vendors.standard_headers(WHSEC, "msg_1", body), input_terminated=False
    )

    assert status == 411
    assert "Content-Length" in json.loads(reply)["detail"]
    assert not RejectedAttempt.objects.exists()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(os.environ.get("WEDSYNC_SERVICES") != "1", reason="needs PostgreSQL (WEDSYNC_SERVICES=1)")
def test_under_gunicorn_a_chunked_signed_webhook_is_stored(organisation, webhook_config):
    from django.db import connection

    from bench.common import bench_env, gunicorn
    from tests.services.conftest import database_url

    assert connection.vendor == "postgresql"
    webhook_config("generic", organisation, WHSEC)
    body = vendors.as_json({"type": "crm.client.created", "data": {"id": "c_1"}})
    env = bench_env(database_url(), FIELD_ENCRYPTION_KEYS=os.environ["FIELD_ENCRYPTION_KEYS"])
    with gunicorn(env, workers=1) as base:
        response = requests.post(
            f"{base}{vendors.API}/generic/{organisation.slug}/",
            data=iter([body[:10], body[10:]]),  # a generator: requests sends it chunked
            headers={**vendors.standard_headers(WHSEC, "msg_1", body), "Content-Type": "application/json"},
            timeout=10,
        )
    assert response.status_code == 200, response.text
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert InboundEvent.objects.count() == 1

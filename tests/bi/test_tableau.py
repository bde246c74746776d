"""Tableau: PAT sign-in, X-Tableau-Auth, multipart/mixed publish of a real .hyper file (read back with
tableauhyperapi), chunked upload above the single-request limit, re-sign-in once on 401, one session
per PAT at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from django.utils import timezone

from bi import hyper
from bi.models import Destination, ExecutiveMetrics
from bi.providers.tableau import multipart_mixed
from bi.sandbox import parse_multipart_mixed
from bi.schema import FEATURE_COLUMNS, METRIC_COLUMNS
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.models import ConfigStatus

from .conftest import PAT_SECRET, TABLEAU_API, fixture, sync

pytestmark = pytest.mark.django_db
SIGNIN = f"{TABLEAU_API}/auth/signin"
SITE = fixture("tableau", "signin")["credentials"]["site"]["id"]
TOKEN = fixture("tableau", "signin")["credentials"]["token"]
PUBLISH = f"{TABLEAU_API}/sites/{SITE}/datasources"
UPLOADS = f"{TABLEAU_API}/sites/{SITE}/fileUploads"


@pytest.fixture
def vendor():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(SIGNIN, json=fixture("tableau", "signin"))
        rsps.post(PUBLISH, status=201, json=fixture("tableau", "publish_datasource"))
        yield rsps


def published(rsps) -> list:
    return [c for c in rsps.calls if c.request.method == "POST" and c.request.url.startswith(PUBLISH)]


def extract_rows(call, tmp_path: Path, name="x.hyper") -> list[tuple]:
    parts = parse_multipart_mixed(call.request.headers["Content-Type"], call.request.body)
    path = tmp_path / name
    path.write_bytes(parts["tableau_datasource"][1])
    return hyper.read(path), hyper.columns_of(path)


def test_sign_in_with_the_personal_access_token(vendor, june, tableau_config):
    sync(tableau_config())
    (signin,) = [c for c in vendor.calls if c.request.url == SIGNIN]
    assert json.loads(signin.request.body) == {"credentials": {
        "personalAccessTokenName": "wedsync-export", "personalAccessTokenSecret": PAT_SECRET,
        "site": {"contentUrl": "wedsync"}}}  # fmt: skip
    for call in published(vendor):
        assert call.request.headers["X-Tableau-Auth"] == TOKEN
        assert "Authorization" not in call.request.headers


def test_the_published_hyper_file_holds_the_metrics(vendor, june, tableau_config, tmp_path):
    config = tableau_config()
    result = sync(config)
    assert result.delivered == 1
    metrics_call, features_call = published(vendor)
    assert metrics_call.request.url == f"{PUBLISH}?datasourceType=hyper&overwrite=true"
    assert metrics_call.request.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    parts = parse_multipart_mixed(metrics_call.request.headers["Content-Type"], metrics_call.request.body)
    assert list(parts) == ["request_payload", "tableau_datasource"]
    assert parts["request_payload"][0]["content-type"] == "text/xml"
    assert parts["request_payload"][1].decode() == (
        '<tsRequest><datasource name="WedSync executive AI metrics">'
        '<project id="1f2f3f4f-5f6f-7f8f-9f0f-a1b2c3d4e5f6"/></datasource></tsRequest>'
    )
    assert parts["tableau_datasource"][0]["content-type"] == "application/octet-stream"
    assert parts["tableau_datasource"][1].startswith(b"Hyper")
    rows, columns = extract_rows(metrics_call, tmp_path)
    assert columns == [c.name for c in METRIC_COLUMNS]
    by_key = {(r[columns.index("period")], str(r[columns.index("period_start")])): r for r in rows}
    friday = by_key[("day", "2026-06-12")]
    assert friday[columns.index("requests")] == 70
    assert str(friday[columns.index("ai_cost_gbp")]) == "1.7375"
    assert friday[columns.index("uptime_percent")] == 50.0
    assert len(rows) == 3  # Friday, Saturday, June for acme
    feature_rows, feature_columns = extract_rows(features_call, tmp_path, "f.hyper")
    assert feature_columns == [c.name for c in FEATURE_COLUMNS] and len(feature_rows) == 5
    assert b'name="WedSync executive AI metrics (features)"' in features_call.request.body
    destination = Destination.objects.get(config=config)
    assert destination.vendor_object_id == fixture("tableau", "publish_datasource")["datasource"]["id"]
    assert destination.last_received["rows"] == 3


def test_a_large_file_goes_up_in_chunks(vendor, june, tableau_config, settings, tmp_path):
    settings.BI_TABLEAU_SINGLE_REQUEST_BYTES = 4096  # any real extract is larger
    settings.BI_TABLEAU_CHUNK_BYTES = 50_000
    vendor.post(UPLOADS, status=201, json=fixture("tableau", "file_upload"))
    session = fixture("tableau", "file_upload")["fileUpload"]["uploadSessionId"]
    vendor.put(f"{UPLOADS}/{session}", json=fixture("tableau", "file_upload"))
    sync(tableau_config())
    chunks = [c for c in vendor.calls if c.request.method == "PUT"]
    assert len(chunks) >= 2  # the extract is bigger than one 50 kB chunk
    data = b""
    for chunk in chunks:
        parts = parse_multipart_mixed(chunk.request.headers["Content-Type"], chunk.request.body)
        assert list(parts) == ["request_payload", "tableau_file"] and parts["request_payload"][1] == b""
        assert len(chunk.request.body) < settings.BI_TABLEAU_CHUNK_BYTES + 1024
        data += parts["tableau_file"][1]
    commit = published(vendor)[0]
    assert "uploadSessionId=" in commit.request.url and "overwrite=true" in commit.request.url
    assert list(parse_multipart_mixed(commit.request.headers["Content-Type"], commit.request.body)) == [
        "request_payload"
    ]
    (tmp_path / "chunked.hyper").write_bytes(data)
    assert len(hyper.read(tmp_path / "chunked.hyper")) == 3  # the chunks reassemble into the extract


def test_an_expired_session_is_signed_in_again_once(vendor, june, tableau_config):
    config = tableau_config()
    sync(config)
    vendor.calls.reset()
    vendor.replace(responses.POST, PUBLISH, status=401, json=fixture("tableau", "expired_token"))
    vendor.add(responses.POST, PUBLISH, status=201, json=fixture("tableau", "publish_datasource"))
    ExecutiveMetrics.objects.update(changed_at=timezone.now())  # something to publish again
    sync(config)
    assert len([c for c in vendor.calls if c.request.url == SIGNIN]) == 1
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE


def test_one_session_per_pat_at_a_time(vendor, june, tableau_config, make_config, make_organisation):
    config = tableau_config()
    other = make_config("bi", make_organisation(slug="other"), "tableau", settings=dict(config.settings),
                        secrets={"pat_secret": PAT_SECRET})  # fmt: skip
    with config.get_provider().pat_in_use().held():
        with pytest.raises(RetryableError, match="in use"):
            other.get_provider().deliver("publish", {})
        health = other.get_provider().check_health()
        assert "not signing in" in health.message
    assert not [c for c in vendor.calls if c.request.url == SIGNIN]


def test_multipart_mixed_is_the_documented_shape():
    body, content_type = multipart_mixed(
        [
            ("request_payload", None, "text/xml", b"<tsRequest/>"),
            ("tableau_datasource", "f.hyper", "application/octet-stream", b"Hyper\x00"),
        ]
    )
    boundary = content_type.removeprefix("multipart/mixed; boundary=")
    assert body == (
        f'--{boundary}\r\nContent-Disposition: form-data; name="request_payload"\r\nContent-Type: text/xml\r\n\r\n'
        f'<tsRequest/>\r\n--{boundary}\r\nContent-Disposition: form-data; name="tableau_datasource"; '
        f'filename="f.hyper"\r\nContent-Type: application/octet-stream\r\n\r\nHyper\x00\r\n--{boundary}--\r\n'
    ).encode("latin-1")

"""The sandbox as a vendor would be seen by a real HTTP client: routes, exact recording, control API."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from wedsync_integrations.sandbox.client import SandboxError
from wedsync_integrations.sandbox.server import SandboxServer


# -- routes ------------------------------------------------------------------------------------------
def test_a_fixed_json_route_answers_its_declared_status_and_body(vendor_sandbox):
    response = requests.post(vendor_sandbox.url + "/testvendor/api/v1/items", json={"n": 1}, timeout=5)
    assert response.status_code == 202
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"accepted": True}


def test_a_fixed_text_route_sends_its_headers(vendor_sandbox):
    response = requests.get(vendor_sandbox.url + "/testvendor/api/v1/ping", timeout=5)
    assert response.status_code == 200
    assert response.text == "pong"
    assert response.headers["X-Vendor"] == "test"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_handler_route_computes_its_reply_from_the_request(vendor_sandbox):
    url = vendor_sandbox.url + "/testvendor/accounts/AC42/messages"
    first = requests.post(url, data={"To": "+447700900123", "Body": "Hi"}, timeout=5).json()
    second = requests.post(url, data={"To": "+447700900456"}, timeout=5).json()
    assert first["account"] == "AC42" and first["to"] == "+447700900123"
    assert second["to"] == "+447700900456"
    assert first["sid"].startswith("SM") and len(first["sid"]) == 34
    assert first["sid"] != second["sid"]  # a fresh id per request
    recorded = vendor_sandbox.requests("/testvendor/accounts")
    assert ["SM" + r.id_hex for r in recorded] == [first["sid"], second["sid"]]
    assert recorded[0].match == {"account": "AC42"}
    assert recorded[0].route == r"/testvendor/accounts/(?P<account>AC\w+)/messages"


def test_a_route_is_matched_on_method_and_the_whole_path(vendor_sandbox):
    assert requests.get(vendor_sandbox.url + "/testvendor/api/v1/items", timeout=5).status_code == 404
    assert requests.post(vendor_sandbox.url + "/testvendor/api/v1/items/extra", timeout=5).status_code == 404


def test_a_crashing_handler_answers_500_naming_the_error(vendor_sandbox):
    response = requests.get(vendor_sandbox.url + "/testvendor/broken", timeout=5)
    assert response.status_code == 500
    assert response.json() == {"error": "sandbox route handler raised KeyError: 'missing'"}
    (recorded,) = vendor_sandbox.requests()
    assert recorded.status == 500


def test_an_unmatched_request_is_answered_404_and_still_recorded(vendor_sandbox):
    response = requests.put(vendor_sandbox.url + "/nobody/home?x=1", data=b"payload", timeout=5)
    assert response.status_code == 404
    assert response.json() == {
        "error": "sandbox: no route for PUT /nobody/home",
        "method": "PUT",
        "path": "/nobody/home",
    }
    (recorded,) = vendor_sandbox.requests()
    assert (recorded.method, recorded.path, recorded.query, recorded.body) == (
        "PUT",
        "/nobody/home",
        {"x": ["1"]},
        b"payload",
    )
    assert recorded.status == 404 and recorded.route is None


def test_a_run_time_route_overrides_the_declared_one_until_reset(vendor_sandbox):
    url = vendor_sandbox.url + "/testvendor/api/v1/items"
    vendor_sandbox.route("POST", "/testvendor/api/v1/items", status=400, json={"errors": ["bad metric"]})
    vendor_sandbox.route("GET", r"/testvendor/raw/\d+", body=b"\x00\x01", headers={"Content-Type": "x/bin"})
    assert requests.post(url, json={}, timeout=5).json() == {"errors": ["bad metric"]}
    raw = requests.get(vendor_sandbox.url + "/testvendor/raw/7", timeout=5)
    assert (raw.content, raw.headers["Content-Type"]) == (b"\x00\x01", "x/bin")
    vendor_sandbox.reset()
    assert requests.post(url, json={}, timeout=5).status_code == 202


def test_a_stateful_fake_is_reset_before_each_test_through_its_hook(vendor_sandbox):
    notes = vendor_sandbox.url + "/testvendor/notes"
    assert requests.post(notes, data="first", timeout=5).json() == {"id": 1}
    assert requests.post(notes, data="second", timeout=5).json() == {"id": 2}
    assert requests.get(notes, timeout=5).json() == {"notes": ["first", "second"]}
    vendor_sandbox.reset()
    assert requests.get(notes, timeout=5).json() == {"notes": []}
    assert requests.post(notes, data="again", timeout=5).json() == {"id": 1}


def test_bad_run_time_routes_are_refused_with_the_reason(vendor_sandbox):
    with pytest.raises(SandboxError, match="status must be an HTTP status code"):
        vendor_sandbox.route("GET", "/x", status=1000)
    with pytest.raises(SandboxError, match="path must be a regular expression"):
        vendor_sandbox.route("GET", "/__sandbox/health")


def test_the_sandbox_discovers_routes_in_installed_apps_sandbox_modules():
    with SandboxServer(settings_module="tests.sandbox.settings_with_app") as server:
        response = requests.get(server.url + "/discovered/api/status", timeout=5)
        assert response.json() == {"discovered": True}
        assert {"method": "GET", "path": "/discovered/api/status", "dynamic": False, "override": False} in (
            server.routes()
        )


# -- recording -----------------------------------------------------------------------------------------
def test_a_gzip_body_is_recorded_byte_for_byte_and_decoded_on_demand(vendor_sandbox):
    payload = b'{"series": [{"metric": "wedsync.ai.requests", "points": [[1781352000, 42]]}]}'
    compressed = gzip.compress(payload, mtime=0)
    response = requests.post(
        vendor_sandbox.url + "/testvendor/echo",
        data=compressed,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.json()["received"]["series"][0]["points"] == [[1781352000, 42]]
    (recorded,) = vendor_sandbox.requests("/testvendor/echo")
    assert recorded.body == compressed  # the wire bytes, not a re-encoding
    assert recorded.headers["content-encoding"] == "gzip"
    assert recorded.text() == payload.decode()
    assert recorded.json() == {"series": [{"metric": "wedsync.ai.requests", "points": [[1781352000, 42]]}]}


def test_a_deflate_body_is_decoded(vendor_sandbox):
    body = zlib.compress(b'{"a": "\xc2\xa3 12.50"}')
    requests.post(vendor_sandbox.url + "/testvendor/raw", data=body, headers={"Content-Encoding": "deflate"}, timeout=5)
    (recorded,) = vendor_sandbox.requests()
    assert recorded.body == body and recorded.json() == {"a": "£ 12.50"}


def test_text_honours_the_declared_charset(vendor_sandbox):
    requests.post(
        vendor_sandbox.url + "/x",
        data="café £5".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=ISO-8859-1"},
        timeout=5,
    )
    assert vendor_sandbox.requests()[0].text() == "café £5"


def test_method_path_query_headers_and_time_are_recorded_exactly(vendor_sandbox):
    before = datetime.now(UTC)
    requests.post(
        vendor_sandbox.url + "/testvendor/api/v1/items?tag=a&tag=b&empty=",
        json={"n": 1},
        headers={"DD-API-KEY": "k-123", "X-Request-ID": "cid-1"},
        timeout=5,
    )
    after = datetime.now(UTC)
    (recorded,) = vendor_sandbox.requests()
    assert recorded.method == "POST" and recorded.path == "/testvendor/api/v1/items"
    assert recorded.query == {"tag": ["a", "b"], "empty": [""]}
    assert recorded.headers["dd-api-key"] == "k-123" and recorded.headers["X-REQUEST-ID"] == "cid-1"
    assert recorded.body == b'{"n": 1}' and recorded.json() == {"n": 1}
    assert before <= recorded.received_at <= after and recorded.received_at.tzinfo is not None
    assert recorded.status == 202 and recorded.fault is None


def test_a_form_body_keeps_repeated_fields(vendor_sandbox):
    requests.post(
        vendor_sandbox.url + "/x", data=[("MediaUrl", "https://a"), ("MediaUrl", "https://b"), ("To", "+44")], timeout=5
    )
    form = vendor_sandbox.requests()[0].form()
    assert form["To"] == "+44" and form.getlist("MediaUrl") == ["https://a", "https://b"]


def test_a_chunked_body_is_recorded_de_chunked(vendor_sandbox):
    parts = [b'{"items": [', b"1, 2, 3", b"]}"]
    response = requests.post(vendor_sandbox.url + "/testvendor/echo", data=iter(parts), timeout=5)
    assert response.json()["received"] == {"items": [1, 2, 3]}
    (recorded,) = vendor_sandbox.requests()
    assert recorded.headers["Transfer-Encoding"] == "chunked"
    assert recorded.body == b"".join(parts)


def test_chunk_extensions_trailers_and_pipelined_keep_alive_requests_on_a_raw_socket(vendor_sandbox):
    host, port = vendor_sandbox.url.removeprefix("http://").split(":")
    wire = (
        b"POST /raw/one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        b"POST /raw/two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(wire)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 404") == 2  # both answered on one connection
    one, two = vendor_sandbox.requests()
    assert (one.path, one.body) == ("/raw/one", b"hello world")
    assert (two.path, two.body) == ("/raw/two", b"abc")
    assert one.peer == two.peer


def test_a_pooled_client_reuses_one_keep_alive_connection(vendor_sandbox):
    with requests.Session() as session:
        for n in range(3):
            session.post(vendor_sandbox.url + "/testvendor/api/v1/items", json={"n": n}, timeout=5)
    peers = {r.peer for r in vendor_sandbox.requests()}
    assert len(peers) == 1


def test_requests_on_a_reused_connection_are_not_held_back_by_nagle(vendor_sandbox):
    # Were the body held until the client's delayed ACK, 100 requests would take 4 s or more.
    started = time.monotonic()
    with requests.Session() as session:
        for n in range(100):
            assert session.post(vendor_sandbox.url + "/testvendor/api/v1/items", json={"n": n}, timeout=5).ok
    assert time.monotonic() - started < 3.0


def test_requests_can_be_filtered_by_prefix_and_sequence(vendor_sandbox):
    for path in ("/a/1", "/b/1", "/a/2"):
        requests.get(vendor_sandbox.url + path, timeout=5)
    assert [r.path for r in vendor_sandbox.requests("/a")] == ["/a/1", "/a/2"]
    first = vendor_sandbox.requests()[0]
    assert [r.path for r in vendor_sandbox.requests(since=first.seq)] == ["/b/1", "/a/2"]


def test_clear_forgets_requests_and_control_calls_are_never_recorded(vendor_sandbox):
    requests.get(vendor_sandbox.url + "/a", timeout=5)
    vendor_sandbox.health()
    assert [r.path for r in vendor_sandbox.requests()] == ["/a"]
    vendor_sandbox.clear()
    assert vendor_sandbox.requests() == []


def test_wait_for_polls_until_the_requests_arrive_or_fails_naming_what_it_saw(vendor_sandbox):
    requests.get(vendor_sandbox.url + "/a", timeout=5)
    assert [r.path for r in vendor_sandbox.wait_for("/a", count=1, timeout=1)] == ["/a"]
    with pytest.raises(AssertionError, match=r"expected 2 request\(s\) under /a within 0.2s, got 1"):
        vendor_sandbox.wait_for("/a", count=2, timeout=0.2)


def test_an_oversized_body_is_refused_with_413_and_recorded(vendor_sandbox):
    host, port = vendor_sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")
    (recorded,) = vendor_sandbox.requests()
    assert (recorded.path, recorded.status, recorded.body) == ("/big", 413, b"")


def test_concurrent_clients_are_all_recorded_and_a_fault_is_used_exactly_its_times(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="status", status=503, times=7)

    def client(worker: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    vendor_sandbox.url + "/testvendor/api/v1/items", json={"w": worker, "i": i}, timeout=10
                ).status_code
                for i in range(20)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for batch in pool.map(client, range(8)) for status in batch]
    assert sorted(set(statuses)) == [202, 503] and statuses.count(503) == 7
    recorded = vendor_sandbox.requests()
    assert len(recorded) == 160
    assert len({r.seq for r in recorded}) == 160
    assert sorted((r.json()["w"], r.json()["i"]) for r in recorded) == [(w, i) for w in range(8) for i in range(20)]
    assert sum(1 for r in recorded if r.fault == "status") == 7

"""Each fault kind, as a real `requests` client experiences it."""

from __future__ import annotations

import time

import pytest
import requests

from wedsync_integrations.sandbox.client import SandboxError

ITEMS = "/testvendor/api/v1/items"


def post(sandbox, path=ITEMS, **kwargs):
    kwargs.setdefault("timeout", 5)
    return requests.post(sandbox.url + path, json={"n": 1}, **kwargs)


def test_status_fault_answers_503_once_then_the_route_again(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="status")
    first, second = post(vendor_sandbox), post(vendor_sandbox)
    assert first.status_code == 503 and first.json() == {"error": "sandbox fault: HTTP 503"}
    assert second.status_code == 202
    faulted, normal = vendor_sandbox.requests()
    assert (faulted.fault, faulted.status) == ("status", 503)
    assert (normal.fault, normal.status) == (None, 202)
    assert faulted.json() == {"n": 1}  # a faulted request is recorded in full


def test_status_fault_with_a_given_status(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="status", status=500)
    assert post(vendor_sandbox).status_code == 500


def test_retry_after_fault_answers_429_with_the_header(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="retry_after", retry_after=17)
    response = post(vendor_sandbox)
    assert response.status_code == 429 and response.headers["Retry-After"] == "17"
    assert vendor_sandbox.requests()[0].fault == "retry_after"


def test_retry_after_fault_with_a_503_and_an_http_date(vendor_sandbox):
    date = "Sat, 13 Jun 2026 14:00:00 GMT"
    vendor_sandbox.fault("/testvendor", kind="retry_after", status=503, retry_after=date)
    response = post(vendor_sandbox)
    assert response.status_code == 503 and response.headers["Retry-After"] == date


def test_slow_fault_delays_a_normal_answer(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="slow", delay=0.6)
    started = time.monotonic()
    response = post(vendor_sandbox)
    elapsed = time.monotonic() - started
    assert response.status_code == 202 and response.json() == {"accepted": True}
    assert 0.6 <= elapsed < 3
    started = time.monotonic()
    post(vendor_sandbox)
    assert time.monotonic() - started < 0.5  # used up


def test_timeout_fault_makes_the_client_time_out(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="timeout", delay=5)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        post(vendor_sandbox, timeout=(2, 0.3))
    assert time.monotonic() - started < 2
    (recorded,) = vendor_sandbox.requests()
    assert (recorded.fault, recorded.status) == ("timeout", None)
    assert post(vendor_sandbox).status_code == 202  # the next request is served normally


def test_timeout_fault_closes_without_an_answer_once_its_delay_passes(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="timeout", delay=0.3)
    with pytest.raises(requests.ConnectionError) as caught:
        post(vendor_sandbox, timeout=5)
    assert not isinstance(caught.value, requests.ReadTimeout)


def test_drop_fault_closes_the_connection_without_a_response(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="drop")
    with pytest.raises(requests.ConnectionError, match="without response"):
        post(vendor_sandbox)
    assert vendor_sandbox.requests()[0].fault == "drop"
    assert post(vendor_sandbox).status_code == 202


def test_drop_on_a_reused_keep_alive_connection_is_seen_by_a_pooled_client(vendor_sandbox):
    with requests.Session() as session:
        assert session.post(vendor_sandbox.url + ITEMS, json={}, timeout=5).status_code == 202
        vendor_sandbox.fault("/testvendor", kind="drop")
        with pytest.raises(requests.ConnectionError):
            session.post(vendor_sandbox.url + ITEMS, json={}, timeout=5)
        assert session.post(vendor_sandbox.url + ITEMS, json={}, timeout=5).status_code == 202


def test_reply_lost_fault_lets_the_vendor_act_then_closes_before_the_answer(vendor_sandbox):
    notes = vendor_sandbox.url + "/testvendor/notes"
    vendor_sandbox.fault("/testvendor/notes", kind="reply_lost")
    with pytest.raises(requests.ConnectionError):
        requests.post(notes, data="first", timeout=5)
    (recorded,) = vendor_sandbox.requests()
    assert (recorded.fault, recorded.status) == ("reply_lost", 201)  # what the vendor would have answered
    assert requests.get(notes, timeout=5).json() == {"notes": ["first"]}  # it acted on the request
    assert requests.post(notes, data="second", timeout=5).json() == {"id": 2}  # used up


def test_drop_fault_closes_before_the_vendor_acts(vendor_sandbox):
    notes = vendor_sandbox.url + "/testvendor/notes"
    vendor_sandbox.fault("/testvendor/notes", kind="drop")
    with pytest.raises(requests.ConnectionError):
        requests.post(notes, data="first", timeout=5)
    assert requests.get(notes, timeout=5).json() == {"notes": []}


def test_a_fault_with_a_method_spares_the_other_methods(vendor_sandbox):
    notes = vendor_sandbox.url + "/testvendor/notes"
    vendor_sandbox.fault("/testvendor/notes", kind="status", method="post")
    assert requests.get(notes, timeout=5).status_code == 200  # a read goes through, the fault stays armed
    assert requests.post(notes, data="n", timeout=5).status_code == 503
    assert requests.post(notes, data="n", timeout=5).status_code == 201


def test_times_counts_uses_and_zero_means_until_cleared(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", times=2)
    assert [post(vendor_sandbox).status_code for _ in range(3)] == [503, 503, 202]
    vendor_sandbox.fault("/testvendor", times=0)
    assert [post(vendor_sandbox).status_code for _ in range(4)] == [503] * 4
    assert vendor_sandbox.faults()[0]["used"] == 4
    vendor_sandbox.clear_faults()
    assert post(vendor_sandbox).status_code == 202


def test_faults_fire_in_the_order_they_were_added(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", kind="status", status=502)
    vendor_sandbox.fault("/testvendor", kind="retry_after", retry_after=1)
    assert [post(vendor_sandbox).status_code for _ in range(3)] == [502, 429, 202]


def test_a_fault_applies_only_under_its_prefix(vendor_sandbox):
    vendor_sandbox.fault("/testvendor/api/v1/ping", times=0)
    assert post(vendor_sandbox).status_code == 202
    assert requests.get(vendor_sandbox.url + "/testvendor/api/v1/ping", timeout=5).status_code == 503
    assert requests.get(vendor_sandbox.url + "/elsewhere", timeout=5).status_code == 404


def test_faults_also_hit_paths_with_no_route(vendor_sandbox):
    vendor_sandbox.fault("/newvendor")
    assert requests.get(vendor_sandbox.url + "/newvendor/x", timeout=5).status_code == 503


def test_reset_disarms_faults(vendor_sandbox):
    vendor_sandbox.fault("/testvendor", times=0)
    vendor_sandbox.reset()
    assert vendor_sandbox.faults() == []
    assert post(vendor_sandbox).status_code == 202


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"prefix": "testvendor"}, "prefix must be a path starting with '/'"),
        ({"prefix": "/__sandbox"}, "control API"),
        ({"prefix": "/x", "kind": "explode"}, "kind must be one of"),
        ({"prefix": "/x", "status": 99}, "status must be an HTTP status code"),
        ({"prefix": "/x", "times": -1}, "times must be a whole number"),
        ({"prefix": "/x", "delay": "soon"}, "delay must be a number"),
        ({"prefix": "/x", "colour": "red"}, "unknown fault field"),
        ({"prefix": "/x", "method": "PO ST"}, "method must be an HTTP method"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_field(vendor_sandbox, spec, message):
    response = requests.post(vendor_sandbox.url + "/__sandbox/faults", json=spec, timeout=5)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert vendor_sandbox.faults() == []


def test_the_client_names_a_bad_fault_kind_and_surfaces_server_refusals(vendor_sandbox):
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        vendor_sandbox.fault("/x", kind="explode")
    with pytest.raises(SandboxError, match="times must be a whole number"):
        vendor_sandbox.fault("/x", times=-1)

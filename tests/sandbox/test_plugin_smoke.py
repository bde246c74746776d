import requests


def test_sandbox_fixture_records_a_request_and_starts_clean(sandbox):
    response = requests.post(sandbox.url + "/nowhere/at/all", data=b"hello")
    assert response.status_code == 404
    (recorded,) = sandbox.requests()
    assert recorded.method == "POST" and recorded.path == "/nowhere/at/all" and recorded.body == b"hello"
    assert response.json() == {
        "error": "sandbox: no route for POST /nowhere/at/all",
        "method": "POST",
        "path": "/nowhere/at/all",
    }


def test_the_next_test_sees_no_requests_from_the_previous_one(sandbox):
    assert sandbox.requests() == []

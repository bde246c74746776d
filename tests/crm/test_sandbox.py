"""The sandbox plays the CRM vendors as their documentation describes them: Tave's notes (listed
newest first, filtered by job), jobs, orders, studio/me and REST-hook postbacks; a Zapier catch
hook; Light Blue's api.php with -4 for a repeated Source + ID."""

from __future__ import annotations

import requests

KEY = {"X-API-KEY": "sandbox-studio-key-0001"}


def tave(sandbox, method, path, **kwargs):
    kwargs.setdefault("headers", KEY)
    return requests.request(method, sandbox.vendor_url("tave") + path, timeout=5, **kwargs)


def test_tave_refuses_requests_without_a_key(sandbox):
    reply = tave(sandbox, "GET", "/studio/me", headers={})
    assert reply.status_code == 401 and reply.json()["title"] == "Unauthorized"


def test_tave_notes_are_per_studio_listed_newest_first_and_filtered_by_job(sandbox):
    job = tave(sandbox, "POST", "/job", json={"name": "Ada & Grace", "eventDate": "2026-09-12"}).json()
    first = tave(sandbox, "POST", "/note", json={"contentHtml": "<p>one</p>", "date": "2026-06-30"})
    second = tave(sandbox, "POST", "/note", json={"contentHtml": "<p>two</p>", "jobId": job["id"]})
    assert (first.status_code, second.status_code) == (201, 201)
    newest_first = tave(sandbox, "GET", "/note", params={"sortBy": "created desc", "pageSize": 10}).json()
    assert [n["contentHtml"] for n in newest_first["items"]] == ["<p>two</p>", "<p>one</p>"]
    assert newest_first["meta"] == {"currentPage": 1, "totalPages": 1, "totalItems": 2, "rows": 10}
    on_job = tave(sandbox, "GET", "/note", params={"jobId": job["id"]}).json()["items"]
    assert [n["id"] for n in on_job] == [second.json()["id"]]
    other_studio = tave(sandbox, "GET", "/note", headers={"X-API-KEY": "another-studio"}).json()
    assert other_studio["items"] == []
    invalid = tave(sandbox, "POST", "/note", json={"contentHtml": "", "jobId": "01nosuchjob0000000000000000"})
    assert invalid.status_code == 400 and set(invalid.json()["detail"]) == {"contentHtml", "jobId"}


def test_tave_jobs_orders_and_the_studio(sandbox):
    assert tave(sandbox, "GET", "/studio/me").json()["name"] == "Sandbox Studio"
    job = tave(sandbox, "POST", "/job", json={"name": "Ada & Grace", "eventDate": "2026-09-12"}).json()
    assert tave(sandbox, "GET", f"/job/{job['id']}").json()["eventDate"] == "2026-09-12"
    assert tave(sandbox, "GET", "/job/01h35ccwymj5ctckp8px1azhg6").status_code == 404
    order = tave(sandbox, "POST", f"/job/{job['id']}/order").json()
    assert tave(sandbox, "GET", f"/order/{order['id']}").json()["jobId"] == job["id"]
    assert tave(sandbox, "GET", f"/job/{job['id']}").json()["stage"] == "booked"


def test_tave_posts_rest_hooks_back_with_the_target_id(sandbox):
    hook = sandbox.url + "/hooks/tave-postbacks"  # any receiver: the sandbox records it
    for event in ("job.created", "order.booked", "contact.created"):
        assert tave(sandbox, "POST", "/rest-hook", json={"event": event, "url": hook}).status_code == 201
    assert len(tave(sandbox, "GET", "/rest-hook").json()["items"]) == 3
    job = tave(sandbox, "POST", "/job", json={"name": "Ada & Grace", "eventDate": "2026-09-12"}).json()
    order = tave(sandbox, "POST", f"/job/{job['id']}/order").json()
    contact = tave(sandbox, "POST", "/address-book", json={"kind": "person", "firstName": "Ada"}).json()
    postbacks = sandbox.wait_for("/hooks/tave-postbacks", count=3, timeout=10)
    assert sorted((p.json()["event"], p.json()["targetId"]) for p in postbacks) == sorted(
        [("job.created", job["id"]), ("order.booked", order["id"]), ("contact.created", contact["id"])]
    )


def test_zapier_answers_every_catch_hook_post_with_success(sandbox):
    reply = requests.post(sandbox.vendor_url("zapier") + "/hooks/catch/123456/abcdef/", json={"x": 1}, timeout=5)
    assert reply.status_code == 200 and reply.json()["status"] == "success" and reply.json()["request_id"]


def test_light_blue_refuses_a_repeated_source_and_id(sandbox):
    url = sandbox.vendor_url("lightblue") + "/api.php"
    form = {"key": "lb-key", "type": "contact form", "Source": "WedSync", "ID": "wedsync:acme:2026-06",
            "Message": "hello"}  # fmt: skip
    assert requests.post(url, data=form, timeout=5).text == "0"
    assert requests.post(url, data=form, timeout=5).text == "-4 Duplicate API request"
    assert requests.post(url, data={**form, "ID": "wedsync:acme:2026-07"}, timeout=5).text == "0"
    assert requests.post(url, data={**form, "key": "other-studio"}, timeout=5).text == "0"  # its own Inbox
    assert requests.post(url, data={**form, "type": "booking"}, timeout=5).text.startswith("-3 ")
    assert requests.post(url, data={"key": "lb-key", "type": "contact form"}, timeout=5).text.startswith("-3 ")


def test_light_blue_inbox_lists_what_was_stored_once_in_order_without_keys(sandbox):
    url = sandbox.vendor_url("lightblue") + "/api.php"
    form = {"key": "lb-key", "type": "contact form", "Source": "WedSync", "Message": "hello"}
    for report_id in ("wedsync:acme:2026-06", "wedsync:acme:2026-06", "wedsync:acme:2026-07"):
        requests.post(url, data={**form, "ID": report_id}, timeout=5)

    items = requests.get(sandbox.vendor_url("lightblue") + "/__inbox", timeout=5).json()["items"]

    assert [item["ID"] for item in items] == ["wedsync:acme:2026-06", "wedsync:acme:2026-07"]  # the repeat refused
    assert all("key" not in item for item in items)

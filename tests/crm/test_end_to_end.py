"""End to end against the vendor sandbox: the 100-request example lands in all three CRMs with the
right figures, and a resend after a dropped connection creates no second Tave note, carries the
same report_id to Zapier and the same ID to Light Blue (-4: already done)."""

from __future__ import annotations

from datetime import date

import pytest
import requests
from freezegun import freeze_time

from crm.sync import sync_crm
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import JUNE, LIGHT_BLUE_KEY, NOW, TAVE_KEY

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")


@pytest.fixture
def crms(sandbox, organisation, usage, tave_config, honeybook_config, lightblue_config):
    usage(organisation, JUNE, requests=100)
    return {
        "tave": tave_config(base_url=sandbox.vendor_url("tave")),
        "honeybook": honeybook_config(hook_url=sandbox.vendor_url("zapier") + "/hooks/catch/123456/acme01/"),
        "lightblue": lightblue_config(base_url=sandbox.vendor_url("lightblue") + "/api.php"),
    }


def tave_notes(sandbox) -> list[dict]:
    reply = requests.get(sandbox.vendor_url("tave") + "/note", headers={"X-API-KEY": TAVE_KEY}, timeout=5)
    return reply.json()["items"]


def sync_all(crms):
    with freeze_time(NOW):
        return {name: sync_crm(config, now=NOW) for name, config in crms.items()}


def test_the_100_request_example_lands_in_all_three(sandbox, crms):
    results = sync_all(crms)
    assert {name: (r.queued, r.delivered, r.failed) for name, r in results.items()} == dict.fromkeys(crms, (1, 1, 0))

    (note,) = tave_notes(sandbox)
    assert note["date"] == "2026-06-30"
    for line in ("AI requests: 100", "Time saved: 25 hours", "Cost savings: £250.00", "Revenue opportunity: £1,000.00",
                 "Client retention improvement: 15%"):  # fmt: skip
        assert line in note["contentHtml"]

    (zap,) = sandbox.requests("/zapier/hooks/catch/")
    body = zap.json()
    assert (body["time_saved_hours"], body["cost_savings_gbp"], body["revenue_opportunity_gbp"]) == (
        "25", "250.00", "1000.00",
    )  # fmt: skip
    assert (body["client_retention_improvement_pct"], body["report_id"]) == ("15", "wedsync:acme:2026-06")

    (inbox,) = sandbox.requests("/lightblue/api.php")
    form = inbox.form()
    assert (form["ID"], form["Source"], form["type"], inbox.status) == ("wedsync:acme:2026-06", "WedSync",
                                                                        "contact form", 200)  # fmt: skip
    assert "Time saved: 25 hours" in form["Message"] and "Cost savings: £250.00" in form["Message"]


def test_a_resend_after_a_dropped_connection_duplicates_nothing(sandbox, crms):
    for prefix in ("/tave/note", "/zapier/", "/lightblue/"):
        sandbox.fault(prefix, kind="drop")
    results = sync_all(crms)
    assert all(result.failed == 1 for result in results.values())
    # The dropped requests did reach the vendors before the connections broke (the ambiguous case):
    tave_post, zap_post, lightblue_post = (sandbox.requests(p)[0] for p in ("/tave/note", "/zapier/", "/lightblue/"))
    headers = {"X-API-KEY": TAVE_KEY, "Content-Type": "application/json"}
    requests.post(sandbox.vendor_url("tave") + "/note", data=tave_post.body, headers=headers, timeout=5)
    requests.post(sandbox.vendor_url("lightblue") + "/api.php", data=lightblue_post.body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)  # fmt: skip

    outbox.replay(list(FAMILY.retry_model.objects.all()))

    assert all(item.state == RetryState.SUCCEEDED for item in FAMILY.retry_model.objects.all())
    assert len(tave_notes(sandbox)) == 1  # looked for it, found it, posted no second note
    assert [r.method for r in sandbox.requests("/tave/note")][-1] == "GET"
    zaps = sandbox.requests("/zapier/")
    assert zaps[-1].body == zap_post.body and zaps[-1].json()["report_id"] == "wedsync:acme:2026-06"
    assert zaps[-1].headers["webhook-id"] == zap_post.headers["webhook-id"] == "wedsync:acme:2026-06"
    resent = sandbox.requests("/lightblue/")[-1]
    assert resent.form()["ID"] == lightblue_post.form()["ID"] == "wedsync:acme:2026-06"
    assert resent.form()["key"] == LIGHT_BLUE_KEY
    item = FAMILY.retry_model.objects.get(provider="lightblue")
    assert item.result == {"code": -4, "id": "wedsync:acme:2026-06", "duplicate": True}


def test_a_tave_job_created_at_the_sandbox_is_linked_to_a_wedding(sandbox, organisation, tave_config):
    """The sandbox plays Tave's API for the re-read (its REST-hook postback is exercised with a live
    server and a real worker in test_worker.py)."""
    from crm.handlers import queue_job_read
    from crm.models import JobLink
    from webhooks.models import InboundEvent

    config = tave_config(base_url=sandbox.vendor_url("tave"))
    job = requests.post(sandbox.vendor_url("tave") + "/job", json={"name": "Ada & Grace", "eventDate": "2026-09-12"},
                        headers={"X-API-KEY": TAVE_KEY}, timeout=5).json()  # fmt: skip
    event = InboundEvent(source="tave", organisation=organisation, event_type="job.created",
                         payload={"targetId": job["id"], "event": "job.created"})  # fmt: skip
    queue_job_read(event)
    outbox.drain_pair(FAMILY, organisation.pk, "tave")
    link = JobLink.objects.get()
    assert (link.job_name, link.wedding.date) == ("Ada & Grace", date(2026, 9, 12))
    assert config.pk and sandbox.requests(f"/tave/job/{job['id']}")[0].headers["X-API-KEY"] == TAVE_KEY

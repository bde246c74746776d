"""The product's CRM sync latency (< 5 minutes), measured with a real Celery worker and beat on the
real broker and database (CI's second pass): a client books at Tave (the sandbox), Tave's REST
hook posts back to our endpoint (a live server), beat's sweeper publishes the stored event, the
worker handles it, re-reads the job through the studio's key and brings Tave up to date: the
wedding is linked and last month's value report is a note at Tave.

The schedule is shortened: the sweeper runs every second instead of every ten (the production
latency is that much longer at most), and nothing else is scheduled, so only the webhook can
have sent the note."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm.models import JobLink
from crm.monthly import last_closed_month
from tests.services.conftest import SERVICES, Beat
from tests.webhooks.cases import TAVE_TOKEN
from webhooks.models import InboundEvent

from .conftest import TAVE_KEY

pytestmark = [
    pytest.mark.services,
    pytest.mark.worker,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]

SWEEPER = "webhooks: publish and re-queue inbound events"
LATENCY_GOAL = timedelta(minutes=5)


def shorten_the_schedule() -> None:
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.exclude(name=SWEEPER).update(enabled=False)
    PeriodicTask.objects.filter(name=SWEEPER).update(interval=every_second, enabled=True)


def test_a_new_tave_client_reaches_tave_within_five_minutes(
    start_worker, worker_queue, live_server, sandbox, organisation, usage, tave_config, webhook_config
):
    month = last_closed_month(timezone.now())
    usage(organisation, month, requests=100)
    tave_config(base_url=sandbox.vendor_url("tave"), first_month=str(month))
    webhook_config("tave", organisation, TAVE_TOKEN)
    studio = {"X-API-KEY": TAVE_KEY}
    hook = f"{live_server.url}/api/webhooks/ai-integrations/tave/acme/?token={TAVE_TOKEN}&event=job.created"
    subscribed = requests.post(sandbox.vendor_url("tave") + "/rest-hook", json={"event": "job.created", "url": hook},
                               headers=studio, timeout=5)  # fmt: skip
    assert subscribed.status_code == 201
    shorten_the_schedule()
    services = {"CELERY_TASK_DEFAULT_QUEUE": worker_queue}
    start_worker(pool="threads", **services).wait_ready()
    start_worker(name="beat", kind=Beat, **services).wait_ready()

    wedding_day = (timezone.now() + timedelta(days=120)).date()
    job = {"name": "Harper & Lee", "eventDate": wedding_day.isoformat(), "stage": "booked"}
    booked = requests.post(sandbox.vendor_url("tave") + "/job", headers=studio, json=job, timeout=5)
    job_id = booked.json()["id"]

    posts = [r for r in sandbox.wait_for("/tave/note", timeout=LATENCY_GOAL.total_seconds()) if r.method == "POST"]
    event = InboundEvent.objects.get()
    note = posts[0]
    latency = note.received_at - event.received_at
    print(f"\nCRM sync latency, webhook stored -> Tave note received: {latency.total_seconds():.2f} s")
    assert timedelta(0) < latency < LATENCY_GOAL
    assert (event.source, event.event_type, event.payload["targetId"]) == ("tave", "job.created", job_id)
    assert f"(ref wedsync:acme:{month})" in note.json()["contentHtml"]
    assert note.json()["date"] == month.last_day.isoformat()
    job_read = sandbox.requests(f"/tave/job/{job_id}")
    assert job_read and job_read[0].received_at < note.received_at  # the job was re-read before the report
    link = JobLink.objects.get(job_id=job_id)
    assert link.wedding.date == wedding_day and link.wedding.organisation == organisation

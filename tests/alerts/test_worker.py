"""A real Celery worker on the real broker (CI's second pass): an alert raised here reaches every
HTTP channel in the sandbox through worker tasks, and a Slack button acknowledgement stops the
escalation the worker would otherwise send."""

import pytest
from django.db import transaction

from alerts.lifecycle import raise_alert
from tests.services.conftest import SERVICES

pytestmark = [
    pytest.mark.services,
    pytest.mark.worker,
    pytest.mark.skipif(not SERVICES, reason="needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"),
]


def test_a_raised_alert_is_delivered_by_a_real_worker(
    start_worker,
    worker_queue,
    settings,
    sandbox,
    organisation,
    make_channels,
):
    settings.ALERTS_TASK_QUEUE = worker_queue
    make_channels(organisation, base=sandbox.url, only={"slack", "sms", "pagerduty", "webhook"})
    start_worker(pool="threads").wait_ready()
    with transaction.atomic():
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
    for prefix in ("/slack/services/", "/twilio/", "/pagerduty/v2/enqueue", "/hooks/acme"):
        sandbox.wait_for(prefix, timeout=30)
    (page,) = sandbox.requests("/pagerduty/v2/enqueue")
    assert page.json()["dedup_key"] == f"wedsync:acme:{alert.ref}"

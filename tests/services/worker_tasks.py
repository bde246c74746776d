"""Tasks and set-up a real test worker loads with `--include tests.services.worker_tasks`.

In a worker started by these tests (WSI_TEST_WORKER=1) it also registers the sandboxed test
provider on the monitoring family, and WSI_TEST_VISIBILITY_TIMEOUT shortens the Redis
visibility timeout so a message orphaned by a killed worker is redelivered within seconds.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from celery import current_app, shared_task

from wedsync_integrations.tenants.models import Organisation

logger = logging.getLogger(__name__)

if os.environ.get("WSI_TEST_WORKER") == "1":
    from tests.sandbox import providers_for_tests

    providers_for_tests.register()

if os.environ.get("WSI_TEST_VISIBILITY_TIMEOUT"):
    current_app.conf.broker_transport_options = {
        **(current_app.conf.broker_transport_options or {}),
        "visibility_timeout": float(os.environ["WSI_TEST_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,  # sweep for orphaned messages every second...
        "unacked_restore_throttle": 1,  # ...and really scan on every sweep
    }


@shared_task(name="tests.worker.organisation_name")
def organisation_name(slug: str) -> dict:
    """Read a row the test committed: proves the worker shares the test database."""
    return {"name": Organisation.objects.get(slug=slug).name, "pid": os.getpid()}


@shared_task(name="tests.worker.create_organisation")
def create_organisation(slug: str, name: str) -> int:
    pk = Organisation.objects.create(slug=slug, name=name, vendor_type="venue").pk
    logger.info("tests.worker created organisation %s", slug)  # a line like the kernel's own
    return pk


@shared_task(bind=True, name="tests.worker.run_once_then_hang")
def run_once_then_hang(self, journal: str, hang_seconds: float) -> dict:
    """Append the running worker's name to `journal`; the first run then hangs (to be killed mid-task)."""
    path = Path(journal)
    with path.open("a") as handle:
        handle.write(f"{self.request.hostname}\n")
    runs = path.read_text().split()
    if len(runs) == 1:
        time.sleep(hang_seconds)
    return {"worker": self.request.hostname, "runs": len(runs)}

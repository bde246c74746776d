"""Usage ingest under fire: the web server killed or restarted during a load, and a poison value
in each field of a record. What clients were told was stored must be exactly what is stored."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import requests

from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.usage.models import AIUsageRecord
from wedsync_integrations.usage.validation import WIRE_FIELDS

from . import tenants
from .report import Row
from .traffic import UsageLoad, acknowledged, post_usage

LOAD_BEFORE_FAULT_SECONDS = 1.5
LOAD_AFTER_FAULT_SECONDS = 2.5


def _kill_one_web_worker(stack) -> None:
    """SIGKILL one gunicorn worker: its requests in flight are cut; the master starts another."""
    os.kill(stack.web.worker_pids()[0], signal.SIGKILL)


def _graceful_restart(stack) -> None:
    """SIGTERM (a deploy): in-flight requests finish, then the server starts again."""
    stack.restart_web()


def _kill_the_server(stack) -> None:
    """SIGKILL master and workers at once (a machine lost), then start it again."""
    stack.web.stop(signal.SIGKILL)
    stack.web.start()


WEB_FAULTS: list[tuple[str, Callable]] = [
    ("web: SIGKILL a gunicorn worker mid-load", _kill_one_web_worker),
    ("web: SIGTERM (restart) mid-load", _graceful_restart),
    ("web: SIGKILL the server mid-load", _kill_the_server),
]


def web_faults(stack) -> list[Row]:
    return [_ingest_through(stack, label, fault) for label, fault in WEB_FAULTS]


def _ingest_through(stack, label: str, fault: Callable) -> Row:
    org = tenants.organisation(tenants.random_slug("drill-ingest"))
    token = tenants.usage_token(org)
    with UsageLoad(stack.web, token, prefix=f"{org.slug}") as load:
        time.sleep(LOAD_BEFORE_FAULT_SECONDS)
        fault(stack)
        time.sleep(LOAD_AFTER_FAULT_SECONDS)
    result = load.result
    stored = set(AIUsageRecord.objects.filter(organisation=org).values_list("request_id", flat=True))
    row = Row(
        label,
        requests=result.requests,
        accepted=len(result.acknowledged_ids),
        stored=len(stored),
        lost=len(result.acknowledged_ids - stored),
        recovered_in=result.longest_wait,
    )
    if stored - result.acknowledged_ids:
        row.problems.append(f"{len(stored - result.acknowledged_ids)} stored but never acknowledged")
    if result.refused:
        row.problems.append(f"{result.refused} batches never answered")
    return row


# -- a poison record in each field -----------------------------------------------------------------
# One value per field that the database or the date arithmetic cannot hold, or that is not of the
# field's type at all (issue 14 found the first three failing whole batches with a 500).
POISON = {
    "cost_usd": "99999999.9999999",
    "occurred_at": "0001-01-01T00:00:00Z",
    "quality_score": 10**401,
    "request_id": "nul\x00byte",
    "feature": "\ud800",
    "provider": "x" * 33,
    "model": ["a", "list"],
    "latency_ms": 2**63,
    "outcome": {"not": "a string"},
    "prompt_tokens": -1,
    "completion_tokens": 1.5,
    "total_tokens": "12",
    "error_type": 404,
    "error_message": {"nested": "object"},
    "wedding_date": "0000-01-01",
    "venue_region": True,
    "vendor_type": "\x00",
    "user_ref": "y" * 65,
}


def poison_records(stack) -> list[Row]:
    assert set(POISON) == set(WIRE_FIELDS), "every field of the wire format needs its poison"
    org = tenants.organisation(tenants.random_slug("drill-poison"))
    token = tenants.usage_token(org)
    session = requests.Session()
    row = Row("a poison record in each field", requests=len(POISON))
    acknowledged_ids: set[str] = set()
    for field, value in POISON.items():
        good = [example_record(f"{field}-good-1"), example_record(f"{field}-good-2")]
        poisoned = {**example_record(f"{field}-poison"), field: value}
        response = post_usage(session, stack.web.base, token, [good[0], poisoned, good[1]])
        if _rejected_indexes(response) != [1]:
            row.problems.append(f"{field}: HTTP {response.status_code} {response.text[:120]}")
        elif acknowledged(response) == len(good):
            acknowledged_ids.update(record["request_id"] for record in good)
    stored = set(AIUsageRecord.objects.filter(organisation=org).values_list("request_id", flat=True))
    row.accepted, row.stored = len(acknowledged_ids), len(stored)
    row.lost = len(acknowledged_ids - stored)
    if any("poison" in request_id for request_id in stored):
        row.problems.append("a poison record was stored")
    return [row]


def _rejected_indexes(response) -> list[int] | None:
    """Which records a 200 reply rejected (None for any other status)."""
    if response.status_code != 200:
        return None
    return [item["index"] for item in response.json()["rejected"]]

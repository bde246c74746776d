"""What clients send: usage batches (and a load of them from several threads that resend until
they are answered, as the AI platform does), signed and forged PagerDuty webhooks, scrapes."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import requests
from django.utils import timezone

from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.integrations.signing import hmac_digest

from .tenants import PD_SECRET

USAGE_PATH = "/api/v1/usage/"
WEBHOOKS_PATH = "/api/webhooks/ai-integrations"
RESEND_PAUSE_SECONDS = 0.1


def post_usage(session: requests.Session, base: str, token: str, records: list) -> requests.Response:
    return session.post(
        base + USAGE_PATH,
        data=json.dumps({"records": records}),
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def acknowledged(response: requests.Response) -> int:
    """Records a 2xx reply says are stored: new ones and those a resend found already there."""
    reply = response.json()
    return reply["accepted"] + reply["duplicates"]


def pagerduty_event(event_id: str) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "occurred_at": timezone.now().isoformat(),
                "agent": None,
                "data": {
                    "id": "PDRILL1",
                    "type": "incident",
                    "status": "acknowledged",
                    "incident_key": "wedsync:drill:none",
                },
            }
        }
    ).encode()


def post_pagerduty(base: str, slug: str, body: bytes, *, signed: bool, sender: str, session=None) -> requests.Response:
    signature = "v1=" + hmac_digest(PD_SECRET if signed else "a guess", body).hex()
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": signature, "X-Forwarded-For": sender}
    return (session or requests).post(
        f"{base}{WEBHOOKS_PATH}/pagerduty/{slug}/", data=body, headers=headers, timeout=30
    )


# -- a load of usage batches, resent until answered ---------------------------------------------------
@dataclass
class LoadResult:
    requests: int = 0
    acknowledged_ids: set[str] = field(default_factory=set)
    longest_wait: float = 0.0  # seconds from a batch's first failed send to its 2xx: the outage clients saw
    refused: int = 0  # batches never answered with a 2xx (a client gave up)


class UsageLoad:
    """`clients` threads posting batches of `batch` new records to `web` until stopped; a batch
    that fails (connection refused or reset, 5xx) is resent, as the platform resends, until a
    2xx or `give_up_after` seconds."""

    def __init__(self, web, token: str, prefix: str, *, clients: int = 4, batch: int = 50, give_up_after: float = 60):
        self.web, self.token, self.prefix = web, token, prefix
        self.clients, self.batch, self.give_up_after = clients, batch, give_up_after
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> UsageLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.give_up_after + 30)

    def _client(self, number: int) -> None:
        session = requests.Session()
        sent = 0
        while not self._stop.is_set():
            ids = [f"{self.prefix}-{number}-{sent}-{i}" for i in range(self.batch)]
            self._send_until_answered(session, ids)
            sent += 1

    def _send_until_answered(self, session: requests.Session, ids: list[str]) -> None:
        deadline = time.monotonic() + self.give_up_after
        records = [example_record(request_id) for request_id in ids]
        first_failure = None
        while time.monotonic() < deadline:
            with self._lock:
                self.result.requests += 1
            try:
                response = post_usage(session, self.web.base, self.token, records)
            except requests.RequestException:
                response = None
            if response is not None and response.ok:
                self._answered(ids, acknowledged(response), first_failure)
                return
            first_failure = first_failure or time.monotonic()
            time.sleep(RESEND_PAUSE_SECONDS)
        with self._lock:
            self.result.refused += 1

    def _answered(self, ids: list[str], acknowledged_count: int, first_failure: float | None) -> None:
        with self._lock:
            if acknowledged_count == len(ids):
                self.result.acknowledged_ids.update(ids)
            if first_failure is not None:
                self.result.longest_wait = max(self.result.longest_wait, time.monotonic() - first_failure)

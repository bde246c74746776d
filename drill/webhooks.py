"""A flood of forged webhooks beside genuine ones: every genuine delivery is accepted and stored,
no forged one is, and the forgeries never spend the organisation's rate limit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from webhooks.models import InboundEvent

from . import tenants
from .report import Row
from .traffic import pagerduty_event, post_pagerduty

FORGERS = [f"198.51.100.{n}" for n in range(1, 7)]  # six addresses...
FORGED_EACH = 50  # ...of 50 forgeries each: 300, three times the tenant's 100/min
GENUINE = 20
VENDOR_ADDRESS = "203.0.113.10"


def forged_flood(stack) -> list[Row]:
    org = tenants.organisation(tenants.random_slug("drill-flood"))
    tenants.pagerduty_source(org)
    base = stack.web.base
    forged_statuses: list[int] = []
    lock = threading.Lock()

    def forge(sender: str) -> None:
        session = requests.Session()
        for n in range(FORGED_EACH):
            response = post_pagerduty(
                base, org.slug, pagerduty_event(f"forged-{sender}-{n}"), signed=False, sender=sender, session=session
            )
            with lock:
                forged_statuses.append(response.status_code)

    with ThreadPoolExecutor(max_workers=len(FORGERS) + 1) as pool:
        flood = [pool.submit(forge, sender) for sender in FORGERS]
        genuine = pool.submit(_send_genuine, base, org.slug)
        for future in flood:
            future.result()
        genuine_statuses = genuine.result()
    return [_row(org, forged_statuses, genuine_statuses)]


def _send_genuine(base: str, slug: str) -> list[int]:
    session = requests.Session()
    return [
        post_pagerduty(
            base, slug, pagerduty_event(f"genuine-{n}"), signed=True, sender=VENDOR_ADDRESS, session=session
        ).status_code
        for n in range(GENUINE)
    ]


def _row(org, forged_statuses: list[int], genuine_statuses: list[int]) -> Row:
    events = list(InboundEvent.objects.filter(organisation=org).values_list("external_id", flat=True))
    genuine_stored = [event for event in events if "genuine-" in event]
    row = Row(
        "webhooks: 300 forged beside 20 genuine",
        requests=len(forged_statuses) + len(genuine_statuses),
        accepted=sum(1 for status in genuine_statuses if status < 300),
        stored=len(genuine_stored),
        lost=GENUINE - len(set(genuine_stored)),
        duplicated=len(genuine_stored) - len(set(genuine_stored)),
    )
    if len(events) != len(genuine_stored) or any(status < 300 for status in forged_statuses):
        row.problems.append("a forged request was accepted")
    refused = [status for status in genuine_statuses if status >= 300]
    if refused:
        row.problems.append(f"genuine deliveries refused: {sorted(set(refused))}")
    return row

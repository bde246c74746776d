"""Tave (now VSCO Workspace), API v2: the monthly value report as a studio note, a wedding's AI
help as a note on its job, and jobs re-read when a REST hook names them.

Contract (docs/vendors/tave.md): base `https://workspace.vsco.co/api/v2`, header `X-API-KEY`
(a key acts for one studio). `POST /note` with `contentHtml` (required) and `date` (YYYY-MM-DD)
answers 201 with the note and its `id`. Lists (`GET /note`) are `{"items": [...], "meta":
{"currentPage", "totalPages", ...}}`, filter `jobId`, `sortBy=created desc`, `pageSize` ≤ 100.
Every operation may answer 429 with Retry-After (the kernel honours it). `GET /studio/me` is
the health check. `GET /job/{id}` and `GET /order/{id}` (its `jobId`) re-read what a REST hook
named: the hook's body carries only a `targetId`.

No idempotency key exists, so a note is never posted twice blindly: when the outbox says the
payload may already be at Tave (an earlier attempt failed or was cut off), we list the studio's
notes newest first (on the job, for a wedding note) back to the time the report was queued and
look for the footer's reference before posting again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from webhooks.registry import NEW_CLIENT_EVENTS
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.http import json_object
from wedsync_integrations.integrations.registry import BaseSettings, DeliveryResult, HealthResult, StrictSerializer

from .. import render, weddings
from ..family import FAMILY
from ..render import WeddingHelp
from ..value import ValueReport
from .base import CRMProvider, MonthField

logger = logging.getLogger("wedsync.crm")

API = "https://workspace.vsco.co/api/v2"
PAGE_SIZE = 100  # the API's maximum
MAX_SEARCH_PAGES = 50
# Tave stamps `created` with its own clock: look a little further back than our queueing time.
CLOCK_MARGIN = timedelta(minutes=10)
TAVE_ID = re.compile(r"^[0-9A-Za-z]{10,40}$")  # lowercase ULIDs; never a path of our making


class TaveSettings(BaseSettings):
    first_month = MonthField()


class TaveSecrets(StrictSerializer):
    api_key = serializers.CharField(
        min_length=8, help_text="the studio's API key (VSCO Workspace: Settings → API); it acts for that studio"
    )


class TaveNote:
    """Payloads for POST /note: what is stored in the outbox (no key) and sent as is."""

    @staticmethod
    def for_report(report: ValueReport) -> dict:
        document = render.report_document(report)
        note = {"date": report.month.last_day.isoformat(), "contentHtml": document.as_html()}
        return TaveNote._stored(note, report.report_id)

    @staticmethod
    def for_wedding(help_: WeddingHelp, job_id: str, wedding_date: str) -> dict:
        document = render.wedding_document(help_)
        note = {"jobId": job_id, "date": wedding_date, "contentHtml": document.as_html()}
        return TaveNote._stored(note, help_.report_id)

    @staticmethod
    def _stored(note: dict, report_id: str) -> dict:
        return {
            "note": note,
            "reference": render.reference(report_id),
            "report_id": report_id,
            "queued_at": timezone.now().isoformat(),
        }


@FAMILY.register
class Tave(CRMProvider):
    name = "tave"
    label = "Tave / VSCO Workspace (API v2: notes)"
    settings_serializer = TaveSettings
    secrets_serializer = TaveSecrets
    default_base_url = API
    wedding_notes = True
    allows = (
        "Real REST API (VSCO Workspace v2) with the studio's API key. WedSync writes the monthly "
        "report as a studio note and, after each wedding linked to a Tave job, a note on that job. "
        "Tave's REST hooks carry only an id, so jobs are re-read through the API and linked to the "
        "studio's weddings. Tave has no idempotency key: before posting again after a failed "
        "attempt, WedSync looks for its note among the studio's notes."
    )

    def api(self):
        return self.client(default_headers={"X-API-KEY": self.secret("api_key"), "Accept": "application/json"})

    # -- payloads --------------------------------------------------------------------------------------
    def report_payload(self, report: ValueReport) -> dict:
        return TaveNote.for_report(report)

    def wedding_payload(self, help_: WeddingHelp, job_id: str, wedding_date: str) -> dict:
        return TaveNote.for_wedding(help_, job_id, wedding_date)

    # -- notes ---------------------------------------------------------------------------------------------
    def send_report(self, payload: dict) -> DeliveryResult:
        return self._post_note(payload)

    def send_wedding_note(self, payload: dict) -> DeliveryResult:
        return self._post_note(payload)

    def _post_note(self, payload: dict) -> DeliveryResult:
        client = self.api()
        if self.resending:
            earlier = self._find_note(client, payload)
            if earlier is not None:
                logger.info("crm.tave_note_found org=%s report=%s note=%s: not posted again",
                            self.organisation.slug, payload["report_id"], earlier.get("id"))  # fmt: skip
                return DeliveryResult(items=1, http_status=200, detail={**_note_detail(earlier), "found": True})
        response = client.request("POST", "/note", json=payload["note"])
        return DeliveryResult(items=1, http_status=response.status_code, detail=_note_detail(json_object(response)))

    def _find_note(self, client, payload: dict) -> dict | None:
        """Our note among the studio's (the job's) notes created since the report was queued."""
        since = parse_datetime(payload["queued_at"]) - CLOCK_MARGIN
        params = {"sortBy": "created desc", "pageSize": PAGE_SIZE}
        if payload["note"].get("jobId"):
            params["jobId"] = payload["note"]["jobId"]
        for page in range(1, MAX_SEARCH_PAGES + 1):
            listing = json_object(client.request("GET", "/note", params={**params, "page": page}))
            notes = listing.get("items") or []
            for note in notes:
                if payload["reference"] in str(note.get("contentHtml") or ""):
                    return note
            total_pages = (listing.get("meta") or {}).get("totalPages") or page
            if not notes or page >= total_pages or _created(notes[-1]) < since:
                return None
        logger.warning("crm.tave_note_search_cut org=%s report=%s after %s pages: posting",
                       self.organisation.slug, payload["report_id"], MAX_SEARCH_PAGES)  # fmt: skip
        return None

    # -- jobs -------------------------------------------------------------------------------------------------
    def link_job(self, payload: dict) -> DeliveryResult:
        """Re-read the job a REST hook named (an order names its job) and link it to a wedding.
        An id Tave does not know (404) changes nothing."""
        client = self.api()
        job_id = payload["target_id"]
        if payload["event"] == "order.booked":
            order = self._read(client, f"/order/{job_id}")
            job_id = str((order or {}).get("jobId") or "")
            if not TAVE_ID.match(job_id):
                return _not_linked(payload, "Tave knows no such order, or it names no job")
        job = self._read(client, f"/job/{job_id}")
        if job is None:
            return _not_linked(payload, f"Tave knows no job {job_id}")
        if not job.get("id"):
            raise PermanentError(f"tave: GET /job/{job_id} answered without a job id")
        outcome = weddings.link_job(self.organisation, self.name, job)
        return DeliveryResult(items=1, http_status=200, detail={"linked": outcome.link.wedding_id is not None,
                                                                 **outcome.detail()})  # fmt: skip

    @staticmethod
    def _read(client, path: str) -> dict | None:
        if not TAVE_ID.match(path.rsplit("/", 1)[-1]):
            raise PermanentError("tave: not a Tave id")
        response = client.request("GET", path, accept_statuses=(404,))
        return None if response.status_code == 404 else json_object(response)

    # -- REST hooks -------------------------------------------------------------------------------------
    def subscribe_rest_hooks(self, url_for: Callable[[str], str]) -> list[str]:
        """Subscribe each "new client" event Tave has (webhooks.registry.NEW_CLIENT_EVENTS) to
        `url_for(event)`, skipping subscriptions the studio already has. Returns the events
        subscribed now."""
        client = self.api()
        existing = set()
        for page in range(1, MAX_SEARCH_PAGES + 1):
            listing = json_object(client.request("GET", "/rest-hook", params={"page": page, "pageSize": PAGE_SIZE}))
            existing |= {(hook.get("event"), hook.get("url")) for hook in listing.get("items") or []}
            if page >= ((listing.get("meta") or {}).get("totalPages") or page):
                break
        subscribed = []
        for event in NEW_CLIENT_EVENTS[self.name]:
            url = url_for(event)
            if (event, url) not in existing:
                client.request("POST", "/rest-hook", json={"event": event, "url": url})
                subscribed.append(event)
        return subscribed

    # -- health --------------------------------------------------------------------------------------------
    def check_health(self) -> HealthResult:
        response = self.api().request("GET", "/studio/me")
        studio = json_object(response)
        return HealthResult(
            ok=True,
            message=f"connected to studio {studio.get('name') or '(unnamed)'}",
            http_status=response.status_code,
        )


def _note_detail(note: dict) -> dict:
    links = (note.get("links") or {}).get("self") or {}
    return {"note_id": note.get("id"), "href": links.get("managerHref") or links.get("href")}


def _created(note: dict):
    created = parse_datetime(str(note.get("created") or ""))
    # a note without a readable timestamp cannot prove the search may stop
    return created if created is not None else timezone.now()


def _not_linked(payload: dict, reason: str) -> DeliveryResult:
    return DeliveryResult(
        items=0, http_status=404, detail={"linked": False, "target_id": payload["target_id"], "reason": reason}
    )

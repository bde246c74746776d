"""Fake CRM vendors for the sandbox, shaped like their documented answers (docs/vendors/*.md).

Tave / VSCO Workspace API v2, base_url "<sandbox>/tave" (state per X-API-KEY: a key is a studio)
- GET  /tave/studio/me                  the studio (health check)
- POST /tave/note, GET /tave/note        notes: 201 + the note; list with jobId, sortBy, page, pageSize
- GET  /tave/note/{id}
- POST /tave/job, GET /tave/job/{id}     jobs (404 for an unknown id); creating one fires job.created
- POST /tave/job/{id}/order              a booked order on a job (fires order.booked); GET /tave/order/{id}
- POST /tave/address-book                a contact (fires contact.created)
- POST/GET /tave/rest-hook, DELETE /tave/rest-hook/{id}
  REST-hook subscriptions: each event the studio's key causes is posted back, in the background,
  to every subscribed URL as {"targetId": id, "event": name} (Tave's real body carries the targetId
  only; the event name rides along, as our subscription URLs also name it).
  Requests without an X-API-KEY answer 401 like the real API.

Zapier catch hook, hook_url "<sandbox>/zapier/hooks/catch/<account>/<hook>/"
- POST: 200 {"attempt", "id", "request_id", "status": "success"}, whatever the body (as Zapier).

Light Blue, base_url "<sandbox>/lightblue/api.php"
- POST form: "0" stored in the studio's Inbox; "-4 Duplicate API request" for a repeated
  (Source, ID) of the same key; "-3 …" for a type other than "contact form" or no data field;
  a missing key answers "-2 No API key" (Light Blue's own code for that is not published).
- GET /lightblue/__inbox (control, not Light Blue's API, which has no read): every studio's Inbox
  items in the order they were stored, without the keys (the drill counts what arrived).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, date, datetime

import requests

from wedsync_integrations.sandbox.routes import Reply, on_reset, route

logger = logging.getLogger("wedsync.sandbox.crm")

_lock = threading.Lock()
_studios: dict[str, dict] = {}  # X-API-KEY -> {"notes": [], "jobs": {}, "orders": {}, "contacts": {}, "hooks": {}}
_inbox: dict[str, list[dict]] = {}  # Light Blue key -> items
_ULID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case as Tave writes ids


@on_reset
def _forget_everything() -> None:
    with _lock:
        _studios.clear()
        _inbox.clear()


def _ulid() -> str:
    """A lowercase ULID: 48-bit millisecond time, 80 random bits, Crockford base32."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_ULID_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- Tave ---------------------------------------------------------------------------------------------
def _problem(status: int, title: str, detail, kind: str = "unknown") -> Reply:
    return Reply(status, json={"type": kind, "title": title, "detail": detail, "status": status})


def _studio(request) -> dict | None:
    key = request.headers.get("X-API-KEY", "")
    if not key:
        return None
    with _lock:
        return _studios.setdefault(
            key, {"id": _ulid(), "notes": [], "jobs": {}, "orders": {}, "contacts": {}, "hooks": {}}
        )


def _tave(handler):
    """Authenticate as the real API does, and hand the handler the studio of the key."""

    def wrapped(request):
        studio = _studio(request)
        if studio is None:
            return _problem(401, "Unauthorized", "a valid X-API-KEY header is required")
        return handler(request, studio)

    wrapped.__name__ = handler.__name__
    return wrapped


def _links(kind: str, entity_id: str) -> dict:
    return {
        "self": {
            "href": f"https://tave.io/v2/{kind}/{entity_id}",
            "managerHref": f"https://workspace.vsco.co/app/{kind}/{entity_id}",
        }
    }


def _body(request) -> dict | None:
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _fire(studio: dict, event: str, target_id: str) -> None:
    """Post the REST hook to every subscription of `event`, in the background (as a vendor would)."""
    urls = [hook["url"] for hook in studio["hooks"].values() if hook["event"] == event]
    for url in urls:
        threading.Thread(target=_post_back, args=(url, event, target_id), daemon=True).start()


def _post_back(url: str, event: str, target_id: str) -> None:
    try:
        requests.post(url, json={"targetId": target_id, "event": event}, timeout=10)
    except requests.RequestException as exc:
        logger.warning("sandbox.tave_rest_hook_failed event=%s error=%s", event, type(exc).__name__)


@route("GET", "/tave/studio/me")
@_tave
def tave_studio(request, studio):
    return Reply(200, json={"id": studio["id"], "name": "Sandbox Studio", "currencyCode": "GBP",
                            "links": _links("studio", studio["id"])})  # fmt: skip


@route("POST", "/tave/note")
@_tave
def tave_create_note(request, studio):
    body = _body(request)
    if body is None:
        return _problem(400, "Bad Request", "the body must be a JSON object", "validation-error")
    problems = {}
    if not isinstance(body.get("contentHtml"), str) or not body["contentHtml"]:
        problems["contentHtml"] = "required, at least one character"
    if body.get("date") is not None and not _is_date(body["date"]):
        problems["date"] = "must be YYYY-MM-DD"
    if body.get("jobId") and body["jobId"] not in studio["jobs"]:
        problems["jobId"] = "no such job"
    if problems:
        return _problem(400, "Validation Error", problems, "validation-error")
    note_id, stamp = _ulid(), _now()
    note = {
        "id": note_id,
        "created": stamp,
        "modified": stamp,
        "hidden": False,
        "authorId": None,
        "contactId": body.get("contactId"),
        "jobId": body.get("jobId"),
        "date": body.get("date"),
        "contentHtml": body["contentHtml"],
        "links": _links("note", note_id),
    }
    with _lock:
        studio["notes"].append(note)
    return Reply(201, json=note)


@route("GET", "/tave/note")
@_tave
def tave_list_notes(request, studio):
    params = {key: values[-1] for key, values in request.query.items() if values}
    with _lock:
        notes = list(studio["notes"])
    if params.get("jobId"):
        notes = [note for note in notes if note["jobId"] == params["jobId"]]
    newest_first = params.get("sortBy", "id").replace(" asc", "").endswith("desc")
    notes.sort(key=lambda note: (note["created"], note["id"]), reverse=newest_first)
    return _collection("note-collection", notes, params)


@route("GET", r"/tave/note/(?P<id>[0-9a-z]+)")
@_tave
def tave_get_note(request, studio):
    with _lock:
        note = next((n for n in studio["notes"] if n["id"] == request.match["id"]), None)
    return Reply(200, json=note) if note else _problem(404, "Not Found", "no such note")


def _collection(kind: str, items: list, params: dict) -> Reply:
    try:
        page = max(1, int(params.get("page", 1)))
        size = min(100, max(10, int(params.get("pageSize", 100))))
    except ValueError:
        return _problem(400, "Validation Error", {"page": "must be a number"}, "validation-error")
    pages = max(1, -(-len(items) // size))
    chunk = items[(page - 1) * size : page * size]
    meta = {"currentPage": page, "totalPages": pages, "totalItems": len(items), "rows": size}
    return Reply(200, json={"type": kind, "items": chunk, "meta": meta})


@route("POST", "/tave/job")
@_tave
def tave_create_job(request, studio):
    body = _body(request)
    if body is None:
        return _problem(400, "Bad Request", "the body must be a JSON object", "validation-error")
    if body.get("eventDate") is not None and not _is_date(body["eventDate"]):
        return _problem(400, "Validation Error", {"eventDate": "must be YYYY-MM-DD"}, "validation-error")
    job_id, stamp = _ulid(), _now()
    job = {
        "id": job_id,
        "created": stamp,
        "modified": stamp,
        "name": body.get("name"),
        "title": body.get("name") or "Wedding",
        "eventDate": body.get("eventDate"),
        "stage": body.get("stage") or "lead",
        "closed": False,
        "webLead": bool(body.get("webLead")),
        "jobTypeName": "Wedding",
        "links": _links("job", job_id),
    }
    with _lock:
        studio["jobs"][job_id] = job
    _fire(studio, "job.created", job_id)
    return Reply(201, json=job)


@route("GET", r"/tave/job/(?P<id>[0-9A-Za-z]+)")
@_tave
def tave_get_job(request, studio):
    with _lock:
        job = studio["jobs"].get(request.match["id"])
    return Reply(200, json=job) if job else _problem(404, "Not Found", "no such job")


@route("POST", r"/tave/job/(?P<id>[0-9a-z]+)/order")
@_tave
def tave_book_order(request, studio):
    job_id = request.match["id"]
    with _lock:
        if job_id not in studio["jobs"]:
            return _problem(404, "Not Found", "no such job")
        order_id = _ulid()
        order = {"id": order_id, "jobId": job_id, "status": "open", "bookedOn": date.today().isoformat(),
                 "created": _now(), "links": _links("order", order_id)}  # fmt: skip
        studio["orders"][order_id] = order
        studio["jobs"][job_id]["stage"] = "booked"
    _fire(studio, "order.booked", order_id)
    return Reply(201, json=order)


@route("GET", r"/tave/order/(?P<id>[0-9A-Za-z]+)")
@_tave
def tave_get_order(request, studio):
    with _lock:
        order = studio["orders"].get(request.match["id"])
    return Reply(200, json=order) if order else _problem(404, "Not Found", "no such order")


@route("POST", "/tave/address-book")
@_tave
def tave_create_contact(request, studio):
    body = _body(request)
    if body is None or body.get("kind") not in ("person", "company", "location"):
        return _problem(400, "Validation Error", {"kind": "person, company or location"}, "validation-error")
    contact = {**body, "id": _ulid(), "created": _now()}
    with _lock:
        studio["contacts"][contact["id"]] = contact
    _fire(studio, "contact.created", contact["id"])
    return Reply(201, json=contact)


@route("POST", "/tave/rest-hook")
@_tave
def tave_subscribe(request, studio):
    body = _body(request) or {}
    events = ("contact.created", "job.created", "order.booked", "payment.created")
    if body.get("event") not in events or not str(body.get("url", "")).startswith(("https://", "http://")):
        return _problem(400, "Validation Error", {"event": f"one of {', '.join(events)}", "url": "a URL"},
                        "validation-error")  # fmt: skip
    hook = {"id": _ulid(), "event": body["event"], "url": body["url"], "limitTo": body.get("limitTo"),
            "created": _now()}  # fmt: skip
    with _lock:
        studio["hooks"][hook["id"]] = hook
    return Reply(201, json=hook)


@route("GET", "/tave/rest-hook")
@_tave
def tave_list_hooks(request, studio):
    with _lock:
        hooks = list(studio["hooks"].values())
    return _collection("resthook-collection", hooks, {key: v[-1] for key, v in request.query.items() if v})


@route("DELETE", r"/tave/rest-hook/(?P<id>[0-9a-z]+)")
@_tave
def tave_unsubscribe(request, studio):
    with _lock:
        gone = studio["hooks"].pop(request.match["id"], None)
    return Reply(204) if gone else _problem(404, "Not Found", "no such rest hook")


def _is_date(value) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


# -- Zapier catch hook ----------------------------------------------------------------------------------
@route("POST", r"/zapier/hooks/catch/(?P<account>\d+)/(?P<hook>\w+)/?")
def zapier_catch(request):
    attempt = request.id_hex
    return Reply(200, json={"attempt": attempt, "id": _ulid(), "request_id": attempt, "status": "success"})


# -- Light Blue -------------------------------------------------------------------------------------------
LIGHT_BLUE_FIELDS = {"Message", "ContactNameFull", "ContactNameFirst", "ContactNameLast", "ContactEmail",
                     "ContactPhone", "ContactSource", "ContactTag"}  # fmt: skip


@route("POST", "/lightblue/api.php")
def lightblue_api(request):
    form = request.form()
    key = form.get("key", "")
    if not key:
        return Reply(200, body="-2 No API key")
    if form.get("type") != "contact form":
        return Reply(200, body="-3 Invalid API request type")
    if not LIGHT_BLUE_FIELDS & set(form):
        return Reply(200, body="-3 No valid parameters for this API request type")
    with _lock:
        inbox = _inbox.setdefault(key, [])
        if form.get("ID") and any((i.get("Source"), i.get("ID")) == (form.get("Source"), form["ID"]) for i in inbox):
            return Reply(200, body="-4 Duplicate API request")
        inbox.append({name: value for name, value in form.items() if name != "key"})
    return Reply(200, body="0")


@route("GET", "/lightblue/__inbox")
def lightblue_inbox(request):
    with _lock:
        items = [dict(item) for inbox in _inbox.values() for item in inbox]
    return Reply(200, json={"items": items})

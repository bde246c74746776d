"""Fake Entra ID, Power BI, Tableau and Looker endpoints for the vendor sandbox, shaped like their
documented answers and enforcing what the contracts say the vendors enforce.

- /entra/<tenant>/oauth2/v2.0/token       Entra ID client credentials (form body, client_secret_post)
- /powerbi/v1.0/myorg/groups/<g>/datasets  list / create push datasets; rows: ≤ 10,000 per request,
                                           ≤ 120 requests per minute and ≤ 5 pending per dataset (429
                                           with Retry-After), unknown columns refused (400)
- /tableau/api/<v>/auth/signin             PAT sign-in; one session per PAT (a new sign-in ends the old)
- /tableau/api/<v>/sites/<site>/…          publish a data source (multipart/mixed; the file must be a
                                           Hyper file), chunked uploads (fileUploads)
- /looker/api/4.0/login, /user, /datagroups  login with a form body; PATCH refuses future times
- GET /powerbi/__state, /tableau/__published/<name>, /looker/__state   what they hold (tests, demo)
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from urllib.parse import parse_qs

from wedsync_integrations.sandbox.oauth import AuthorizationServer
from wedsync_integrations.sandbox.routes import Reply, on_reset, route

ROWS_PER_REQUEST = 10_000
REQUESTS_PER_MINUTE = 120
PENDING_PER_DATASET = 5
HYPER_MAGIC = b"Hyper"
DATA_TYPES = {"Int64", "Double", "Boolean", "bool", "DateTime", "Datetime", "String", "string", "Decimal"}

ENTRA = AuthorizationServer(
    "/entra",
    authorize_path=r"/[^/]+/oauth2/v2\.0/authorize",
    token_path=r"/[^/]+/oauth2/v2\.0/token",
    access_lifetime=3600,
    rotates=False,
    client_auth="post",
    name="Microsoft Entra ID",
).install()

_lock = threading.Lock()
_datasets: dict[str, dict] = {}
_post_times: dict[str, deque] = defaultdict(deque)
_pending: dict[str, int] = defaultdict(int)
_tableau_sessions: dict[str, str] = {}  # token -> PAT name (one live token per PAT)
_published: dict[str, dict] = {}
_uploads: dict[str, bytearray] = {}
_looker_tokens: set[str] = set()
_datagroups: dict[str, dict] = {}


@on_reset
def _forget() -> None:
    with _lock:
        _datasets.clear()
        _post_times.clear()
        _pending.clear()
        _tableau_sessions.clear()
        _published.clear()
        _uploads.clear()
        _looker_tokens.clear()
        _datagroups.clear()
        _datagroups["1"] = {"id": "1", "model_name": "wedsync", "name": "wedsync_executive_metrics_etl",
                            "stale_before": None, "triggered_at": None, "trigger_check_at": None,
                            "trigger_error": None, "trigger_value": None}  # fmt: skip


_forget()


def _error(status: int, code: str, message: str, headers=None) -> Reply:
    return Reply(status, json={"error": {"code": code, "message": message}}, headers=headers or {})


# -- Power BI ------------------------------------------------------------------------------------------
GROUP = r"/powerbi/v1\.0/myorg/groups/(?P<group>[^/]+)"


@route("GET", r"/powerbi/v1\.0/myorg/groups")
def powerbi_groups(request):
    if not ENTRA.authorised(request):
        return ENTRA.unauthorised()
    return Reply(200, json={"value": [{"id": "f089354e-8366-4e18-aea3-4cb4a3a50b48", "name": "WedSync BI"}]})


@route("GET", GROUP + "/datasets")
def powerbi_datasets(request):
    if not ENTRA.authorised(request):
        return ENTRA.unauthorised()
    group = request.match["group"]
    with _lock:
        value = [
            {"id": ds["id"], "name": ds["name"], "addRowsAPIEnabled": True, "configuredBy": "wedsync@sandbox",
             "isRefreshable": False, "isEffectiveIdentityRequired": False, "isOnPremGatewayRequired": False}
            for ds in _datasets.values() if ds["group"] == group
        ]  # fmt: skip
    return Reply(200, json={"@odata.context": f"http://sandbox/v1.0/myorg/groups/{group}/$metadata#datasets",
                            "value": value})  # fmt: skip


@route("POST", GROUP + "/datasets")
def powerbi_create_dataset(request):
    if not ENTRA.authorised(request):
        return ENTRA.unauthorised()
    body = request.json()
    problem = _dataset_problem(body)
    if problem:
        return _error(400, "InvalidRequest", problem)
    policy = (request.query.get("defaultRetentionPolicy") or ["None"])[0]
    dataset_id = str(uuid.uuid4())
    with _lock:
        _datasets[dataset_id] = {
            "id": dataset_id, "name": body["name"], "group": request.match["group"], "retention": policy,
            "tables": {t["name"]: {c["name"] for c in t["columns"]} for t in body["tables"]},
            "rows": defaultdict(list),
        }  # fmt: skip
    return Reply(201, json={"@odata.context": "http://sandbox/$metadata#datasets/$entity", "id": dataset_id,
                            "name": body["name"], "defaultRetentionPolicy": policy})  # fmt: skip


def _dataset_problem(body) -> str:
    if not isinstance(body, dict) or not body.get("name") or not body.get("tables"):
        return "a dataset needs a name and tables"
    for table in body["tables"]:
        columns = table.get("columns") or []
        if not table.get("name") or not columns or len(columns) > 75:
            return f"table {table.get('name')!r} needs a name and 1-75 columns"
        bad = [c.get("name") for c in columns if c.get("dataType") not in DATA_TYPES]
        if bad:
            return f"unknown dataType for columns {bad}"
    return ""


@route("POST", GROUP + r"/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)/rows")
def powerbi_rows(request):
    if not ENTRA.authorised(request):
        return ENTRA.unauthorised()
    dataset_id, table = request.match["dataset"], request.match["table"]
    now = time.time()
    with _lock:
        dataset = _datasets.get(dataset_id)
        if dataset is None or table not in dataset["tables"]:
            return _error(404, "ItemNotFound", f"dataset {dataset_id} or table {table} not found")
        times = _post_times[dataset_id]
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= REQUESTS_PER_MINUTE:
            return _error(429, "TooManyRequests", "120 POST rows requests per minute", {"Retry-After": "30"})
        if _pending[dataset_id] >= PENDING_PER_DATASET:
            return _error(429, "TooManyRequests", "5 pending POST rows requests", {"Retry-After": "5"})
        times.append(now)
        _pending[dataset_id] += 1
    try:
        rows = (request.json() or {}).get("rows")
        if not isinstance(rows, list) or not rows:
            return _error(400, "InvalidRequest", 'body must be {"rows": [...]}')
        if len(rows) > ROWS_PER_REQUEST:
            return _error(400, "RowsLimitExceeded", f"{len(rows)} rows: at most 10,000 per request")
        unknown = sorted({key for row in rows for key in row} - dataset["tables"][table])
        if unknown:
            return _error(400, "InvalidRequest", f"unknown columns {unknown}")
        with _lock:
            dataset["rows"][table].extend(rows)
        return Reply(200)
    finally:
        with _lock:
            _pending[dataset_id] -= 1


@route("GET", "/powerbi/__state")
def powerbi_state(request):
    with _lock:
        return Reply(200, json={"datasets": [
            {"id": ds["id"], "name": ds["name"], "group": ds["group"], "retention": ds["retention"],
             "rows": {table: rows for table, rows in ds["rows"].items()}}
            for ds in _datasets.values()
        ]})  # fmt: skip


# -- Tableau ---------------------------------------------------------------------------------------------
TABLEAU = r"/tableau/api/(?P<version>\d+\.\d+)"
SITE_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"


def parse_multipart_mixed(content_type: str, body: bytes) -> dict[str, tuple[dict, bytes]]:
    """{part name: (headers, bytes)} of a multipart/mixed body (the shape Tableau's publish takes)."""
    if not content_type.startswith("multipart/mixed") or "boundary=" not in content_type:
        raise ValueError("Content-Type must be multipart/mixed with a boundary")
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    parts = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        name = headers.get("content-disposition", "").split('name="', 1)[-1].split('"', 1)[0]
        parts[name] = (headers, data.removesuffix(b"\r\n"))
    return parts


def _tableau_unauthorised() -> Reply:
    return Reply(401, json={"error": {"summary": "Signin Error", "detail": "Invalid authentication credentials were "
                                                                          "provided", "code": "401002"}})  # fmt: skip


def _tableau_authorised(request) -> bool:
    with _lock:
        return request.headers.get("X-Tableau-Auth", "") in _tableau_sessions


@route("GET", TABLEAU + "/serverinfo")
def tableau_serverinfo(request):
    return Reply(200, json={"serverInfo": {"productVersion": {"value": "2025.3.0", "build": "20253.25.0101"},
                                           "restApiVersion": "3.27"}})  # fmt: skip


@route("POST", TABLEAU + "/auth/signin")
def tableau_signin(request):
    credentials = (request.json() or {}).get("credentials") or {}
    name, secret = credentials.get("personalAccessTokenName"), credentials.get("personalAccessTokenSecret")
    if not name or not secret or secret == "revoked":
        return Reply(401, json={"error": {"summary": "Signin Error", "detail": "Error signing in to Tableau Server",
                                          "code": "401001"}})  # fmt: skip
    token = f"{secrets.token_urlsafe(16)}|{secrets.token_urlsafe(24)}"
    with _lock:
        for old in [t for t, pat in _tableau_sessions.items() if pat == name]:
            del _tableau_sessions[old]  # one session per PAT: signing in again ends the previous one
        _tableau_sessions[token] = name
    content_url = (credentials.get("site") or {}).get("contentUrl", "")
    return Reply(200, json={"credentials": {"site": {"id": SITE_ID, "contentUrl": content_url},
                                            "user": {"id": "8d7c6b5a-4f3e-4d2c-8b1a-0f9e8d7c6b5a"},
                                            "token": token, "estimatedTimeToExpiration": "263:59:59"}})  # fmt: skip


@route("GET", TABLEAU + r"/sites/(?P<site>[^/]+)/datasources")
def tableau_list(request):
    if not _tableau_authorised(request):
        return _tableau_unauthorised()
    wanted = (request.query.get("filter") or [""])[0].removeprefix("name:eq:")
    with _lock:
        found = [{"id": d["id"], "name": name} for name, d in _published.items() if not wanted or name == wanted]
    return Reply(200, json={"pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": str(len(found))},
                            "datasources": {"datasource": found}})  # fmt: skip


@route("POST", TABLEAU + r"/sites/(?P<site>[^/]+)/fileUploads")
def tableau_start_upload(request):
    if not _tableau_authorised(request):
        return _tableau_unauthorised()
    session = f"{uuid.uuid4().hex}:0"
    with _lock:
        _uploads[session] = bytearray()
    return Reply(201, json={"fileUpload": {"uploadSessionId": session, "fileSize": "0"}})


@route("PUT", TABLEAU + r"/sites/(?P<site>[^/]+)/fileUploads/(?P<session>[^/]+)")
def tableau_append_upload(request):
    if not _tableau_authorised(request):
        return _tableau_unauthorised()
    try:
        parts = parse_multipart_mixed(request.headers.get("Content-Type", ""), request.body)
    except ValueError as exc:
        return Reply(400, json={"error": {"code": "400000", "summary": "Bad Request", "detail": str(exc)}})
    with _lock:
        upload = _uploads.get(request.match["session"])
        if upload is None or "tableau_file" not in parts:
            return Reply(404, json={"error": {"code": "404000", "summary": "Upload session not found"}})
        upload.extend(parts["tableau_file"][1])
        size = len(upload)
    return Reply(200, json={"fileUpload": {"uploadSessionId": request.match["session"], "fileSize": str(size)}})


@route("POST", TABLEAU + r"/sites/(?P<site>[^/]+)/datasources")
def tableau_publish(request):
    if not _tableau_authorised(request):
        return _tableau_unauthorised()
    query = {key: values[0] for key, values in request.query.items()}
    bad = lambda detail: Reply(400, json={"error": {"code": "400011", "summary": "Bad Request", "detail": detail}})  # noqa: E731
    if query.get("datasourceType") != "hyper":
        return bad("datasourceType must be hyper")
    try:
        parts = parse_multipart_mixed(request.headers.get("Content-Type", ""), request.body)
    except ValueError as exc:
        return bad(str(exc))
    if "request_payload" not in parts:
        return bad("missing request_payload part")
    xml = parts["request_payload"][1].decode()
    name = xml.split('datasource name="', 1)[-1].split('"', 1)[0] if 'datasource name="' in xml else ""
    project = xml.split('project id="', 1)[-1].split('"', 1)[0] if 'project id="' in xml else ""
    if not name or not project:
        return bad("request_payload needs <datasource name=…><project id=…/>")
    if "uploadSessionId" in query:
        with _lock:
            data = bytes(_uploads.pop(query["uploadSessionId"], b""))
    elif "tableau_datasource" in parts:
        data = parts["tableau_datasource"][1]
    else:
        return bad("missing tableau_datasource part (or uploadSessionId)")
    if not data.startswith(HYPER_MAGIC):
        return bad("the file is not a Hyper file")
    with _lock:
        if name in _published and query.get("overwrite") != "true":
            return Reply(409, json={"error": {"code": "409004", "summary": "Resource Conflict"}})
        existing = _published.get(name)
        datasource_id = existing["id"] if existing else str(uuid.uuid4())
        _published[name] = {
            "id": datasource_id,
            "project": project,
            "bytes": data,
            "chunked": "uploadSessionId" in query,
        }
    return Reply(201, json={"datasource": {"id": datasource_id, "name": name, "type": "hyper",
                                           "project": {"id": project}}})  # fmt: skip


@route("GET", r"/tableau/__published/(?P<name>.+)")
def tableau_published(request):
    from urllib.parse import unquote

    with _lock:
        item = _published.get(unquote(request.match["name"]))
    if item is None:
        return Reply(404, json={"error": "not published"})
    return Reply(200, json={"id": item["id"], "project": item["project"], "chunked": item["chunked"],
                            "hyper_b64": base64.b64encode(item["bytes"]).decode()})  # fmt: skip


# -- Looker -------------------------------------------------------------------------------------------------
LOOKER = r"/looker/api/4\.0"


def _looker_authorised(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    with _lock:
        return scheme.lower() in ("token", "bearer") and token in _looker_tokens


def _looker_error(status: int, message: str) -> Reply:
    return Reply(status, json={"message": message, "documentation_url": "https://cloud.google.com/looker/docs/"})


@route("POST", LOOKER + "/login")
def looker_login(request):
    if "client_id" in request.query or "client_secret" in request.query:
        return _looker_error(400, "credentials must be sent in the form body, not the query string")
    form = parse_qs(request.text())
    if not form.get("client_id") or not form.get("client_secret") or form["client_secret"][0] == "revoked":
        return _looker_error(404, "Not found")
    token = secrets.token_urlsafe(24)
    with _lock:
        _looker_tokens.add(token)
    return Reply(200, json={"access_token": token, "token_type": "Bearer", "expires_in": 3600, "refresh_token": None})


@route("GET", LOOKER + "/user")
def looker_user(request):
    if not _looker_authorised(request):
        return _looker_error(401, "Requires authentication.")
    return Reply(200, json={"id": "7", "display_name": "WedSync BI", "email": "bi@wedsync.example"})


@route("GET", LOOKER + "/datagroups")
def looker_datagroups(request):
    if not _looker_authorised(request):
        return _looker_error(401, "Requires authentication.")
    with _lock:
        return Reply(200, json=list(_datagroups.values()))


@route("PATCH", LOOKER + r"/datagroups/(?P<id>[^/]+)")
def looker_update_datagroup(request):
    if not _looker_authorised(request):
        return _looker_error(401, "Requires authentication.")
    body = request.json() or {}
    now = time.time()
    for key in ("stale_before", "triggered_at"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or value > now + 1):
            return Reply(422, json={"message": "Validation Failed", "errors": [
                {"field": key, "code": "invalid", "message": f"{key} must not be in the future"}]})  # fmt: skip
    with _lock:
        group = _datagroups.get(request.match["id"])
        if group is None:
            return _looker_error(404, "Not found")
        group.update({key: body[key] for key in ("stale_before", "triggered_at") if key in body})
        return Reply(200, json=dict(group))


@route("GET", "/looker/__state")
def looker_state(request):
    with _lock:
        return Reply(200, json={"datagroups": list(_datagroups.values())})


def published_hyper(sandbox_url_json: dict) -> bytes:
    """The bytes of a published extract from /tableau/__published/<name>'s JSON answer."""
    return base64.b64decode(sandbox_url_json["hyper_b64"])

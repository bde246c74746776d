"""The sandbox HTTP server, and SandboxServer: the same server in its own process, for tests.

    with SandboxServer() as sandbox:                 # a free 127.0.0.1 port, ready when it returns
        config.settings["base_url"] = sandbox.vendor_url("datadog")
        ...
        assert sandbox.requests("/datadog")[0].json() == {...}

The server answers the routes families declare in `<app>/sandbox.py` (see routes.py), records
every request (matched or not, faulted or not), and injects faults on demand. Its control API
lives under /__sandbox (never recorded, never faulted):

    GET    /__sandbox/health                       liveness, counts
    GET    /__sandbox/routes                       declared routes and run-time overrides
    POST   /__sandbox/routes                       {method, path, status, json | body_b64, headers}: a
                                                   fixed reply that wins over declared routes
    DELETE /__sandbox/routes                       drop the overrides
    GET    /__sandbox/requests?prefix=/x&since=N   recorded requests, oldest first, bodies base64
    DELETE /__sandbox/requests                     forget them
    GET    /__sandbox/faults                       faults still armed
    POST   /__sandbox/faults                       {prefix, method, kind, status, retry_after, delay, times}
    DELETE /__sandbox/faults                       disarm all
    POST   /__sandbox/reset                        forget requests, disarm faults, drop overrides, and
                                                   run the route modules' reset hooks (routes.on_reset)

It binds loopback addresses only: it answers anything, so it must never be reachable from outside.
Nothing here imports Django; `python -m wedsync_integrations.sandbox` sets Django up and loads routes.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ipaddress
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from . import routes
from .client import CONTROL_PREFIX, FAULT_KINDS, FaultKind, MatchGroups, RecordedRequest, SandboxClient, SandboxError

READY_LINE = "WEDSYNC SANDBOX READY"
MAX_RECORDED_REQUESTS = 100_000
MAX_RECORDED_BYTES = 256 * 1024 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_DELAYS = {FaultKind.SLOW: 2.0, FaultKind.TIMEOUT: 60.0}
DEFAULT_STATUSES = {FaultKind.STATUS: 503, FaultKind.RETRY_AFTER: 429}
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class NotLoopbackError(ValueError):
    """The sandbox answers anything and trusts everyone, so it binds loopback addresses only."""


class BadRequestBody(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# -- recording ------------------------------------------------------------------------------------
class Recorder:
    """Thread-safe, bounded log of received requests: the oldest go first when either the count
    or the total body size would exceed its limit."""

    def __init__(self, max_requests: int = MAX_RECORDED_REQUESTS, max_bytes: int = MAX_RECORDED_BYTES):
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self._items: deque[RecordedRequest] = deque()
        self._bytes = 0
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, request: RecordedRequest) -> RecordedRequest:
        with self._lock:
            self._seq += 1
            request.seq = self._seq
            self._items.append(request)
            self._bytes += len(request.body)
            while self._items and (len(self._items) > self.max_requests or self._bytes > self.max_bytes):
                self._bytes -= len(self._items.popleft().body)
        return request

    def list(self, prefix: str | None = None, since: int = 0) -> list[RecordedRequest]:
        with self._lock:
            items = list(self._items)
        return [r for r in items if r.seq > since and (not prefix or r.path.startswith(prefix))]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


# -- faults -----------------------------------------------------------------------------------------
@dataclass
class Fault:
    id: int
    prefix: str
    kind: str
    status: int
    retry_after: str
    delay: float
    times: int  # 0 = until cleared
    method: str = ""  # only requests of this method ("" = any)
    used: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times > 0 and self.used >= self.times


def parse_fault(data: object, fault_id: int) -> Fault:
    """Validate a fault spec from the control API; ValueError with a message naming the field."""
    if not isinstance(data, dict):
        raise ValueError("fault must be a JSON object")
    unknown = sorted(set(data) - {"prefix", "method", "kind", "status", "retry_after", "delay", "times"})
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
    prefix = data.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError("prefix must be a path starting with '/'")
    if prefix.startswith(CONTROL_PREFIX):
        raise ValueError(f"the control API ({CONTROL_PREFIX}) cannot be faulted")
    kind = data.get("kind", FaultKind.STATUS)
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
    status = data.get("status", DEFAULT_STATUSES.get(kind, 503))
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code (100-599)")
    retry_after = data.get("retry_after", 30)
    if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float, str)) or str(retry_after) == "":
        raise ValueError("retry_after must be seconds or an HTTP date")
    if isinstance(retry_after, float) and retry_after.is_integer():
        retry_after = int(retry_after)
    delay = data.get("delay", DEFAULT_DELAYS.get(kind, 2.0))
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
        raise ValueError("delay must be a number of seconds between 0 and 3600")
    times = data.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise ValueError("times must be a whole number >= 0 (0 = until cleared)")
    method = data.get("method", "")
    if not isinstance(method, str) or (method and not method.isalpha()):
        raise ValueError("method must be an HTTP method such as POST (or absent: any method)")
    return Fault(fault_id, prefix, kind, status, str(retry_after), float(delay), times, method.upper())


class FaultBook:
    """Armed faults, consumed in the order they were added."""

    def __init__(self):
        self._faults: list[Fault] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, data: object) -> Fault:
        with self._lock:
            fault = parse_fault(data, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, path: str, method: str = "") -> Fault | None:
        """The first armed fault covering `method` `path`, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                covers = path.startswith(fault.prefix) and fault.method in ("", method.upper())
                if covers and not fault.exhausted:
                    fault.used += 1
                    if fault.exhausted:
                        self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


# -- routes added at run time ---------------------------------------------------------------------
def parse_route_override(data: object) -> routes.Route:
    """A fixed-reply route sent over the control API: {method, path, status, json | body_b64, headers}."""
    if not isinstance(data, dict):
        raise ValueError("route must be a JSON object")
    unknown = sorted(set(data) - {"method", "path", "status", "json", "body_b64", "headers"})
    if unknown:
        raise ValueError(f"unknown route field(s): {', '.join(unknown)}")
    method, path = data.get("method"), data.get("path")
    if not isinstance(method, str) or not method.isalpha():
        raise ValueError("method must be an HTTP method such as POST")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith(CONTROL_PREFIX):
        raise ValueError(f"path must be a regular expression for a path starting with '/' (not {CONTROL_PREFIX})")
    status = data.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code (100-599)")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("headers must be an object of strings")
    body = base64.b64decode(data.get("body_b64") or "", validate=True)
    reply = routes.Reply(status, body, dict(headers), data.get("json"))
    return routes.Route(method.upper(), re.compile(path), reply)


class RouteOverrides:
    """Fixed replies a test adds at run time; they win over declared routes until the next reset."""

    def __init__(self):
        self._routes: list[routes.Route] = []
        self._lock = threading.Lock()

    def add(self, data: object) -> routes.Route:
        entry = parse_route_override(data)
        with self._lock:
            self._routes.append(entry)
        return entry

    def find(self, method: str, path: str) -> tuple[routes.Route, re.Match] | None:
        with self._lock:
            entries = list(self._routes)
        return routes.find(method, path, entries)

    def list(self) -> list[routes.Route]:
        with self._lock:
            return list(self._routes)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()


# -- the HTTP server ---------------------------------------------------------------------------------
def loopback_address(host: str) -> tuple[socket.AddressFamily, str]:
    """Resolve `host`; refuse it unless every address it names is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NotLoopbackError(f"sandbox host {host!r} cannot be resolved") from exc
    addresses = [(info[0], info[4][0]) for info in infos]
    outside = sorted({address for _, address in addresses if not ipaddress.ip_address(address).is_loopback})
    if outside or not addresses:
        raise NotLoopbackError(
            f"the sandbox binds loopback addresses only (127.0.0.1, ::1); {host!r} is {', '.join(outside)}"
        )
    # prefer IPv4 when a name (localhost) has both
    return sorted(addresses, key=lambda pair: pair[0] != socket.AF_INET)[0]


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # held "timeout" connections must never delay shutdown
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True):
        family, address = loopback_address(host)
        self.address_family = family
        self.recorder = Recorder()
        self.faults = FaultBook()
        self.overrides = RouteOverrides()
        self.quiet = quiet
        self.stopping = threading.Event()
        self.started_at = datetime.now(UTC)
        super().__init__((address, port), SandboxRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def shutdown(self) -> None:
        self.stopping.set()  # releases connections held by "timeout" faults
        super().shutdown()


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled vendor clients reuse connections
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body back
    # until the client's delayed ACK (~40 ms per request on a reused connection)
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def version_string(self) -> str:
        return "WedSyncSandbox/1.0"

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- request handling -------------------------------------------------------------------------
    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path or "/"
        control = path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")
        request = RecordedRequest(
            method=self.command,
            path=path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(self._header_pairs()),
            received_at=datetime.now(UTC),
            id=uuid.uuid4().hex,
            peer="{}:{}".format(*self.client_address[:2]),
        )
        try:
            request.body = self._read_body()
        except BadRequestBody as exc:
            # the body is unusable, but a vendor test still wants to see that the request came
            self.close_connection = True
            request.status = exc.status
            if not control:
                self.server.recorder.add(request)
            self._send_json(exc.status, {"error": f"sandbox: {exc}"})
            return
        if control:
            self._control(self.command, path[len(CONTROL_PREFIX) :], parse_qs(parts.query), request.body)
            return
        fault = self.server.faults.take(path, self.command)
        request.fault = fault.kind if fault else None
        self.server.recorder.add(request)
        if fault and self._apply_fault(fault, request):
            return
        self._answer_route(request, reply_lost=fault is not None and fault.kind == FaultKind.REPLY_LOST)

    def _header_pairs(self) -> list[tuple[str, str]]:
        pairs: dict[str, str] = {}
        for name, value in self.headers.items():
            # repeated headers are combined as HTTP allows (RFC 9110 §5.3)
            key = next((k for k in pairs if k.lower() == name.lower()), name)
            pairs[key] = f"{pairs[key]}, {value}" if key in pairs else value
        return list(pairs.items())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise BadRequestBody(f"Content-Length {length!r} is not a number")
        if size < 0:
            raise BadRequestBody("negative Content-Length")
        if size > MAX_BODY_BYTES:
            raise BadRequestBody(f"body of {size} bytes exceeds the sandbox limit of {MAX_BODY_BYTES}", 413)
        body = self.rfile.read(size)
        if len(body) != size:
            raise BadRequestBody(f"body ended after {len(body)} of {size} bytes")
        return body

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequestBody(f"malformed chunk size line {line[:40]!r}")
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise BadRequestBody(f"chunked body exceeds the sandbox limit of {MAX_BODY_BYTES}", 413)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise BadRequestBody("chunked body ended early")
            chunks.append(chunk)
            self.rfile.readline(8)  # the CRLF closing each chunk

    # -- faults -------------------------------------------------------------------------------------
    def _apply_fault(self, fault: Fault, request: RecordedRequest) -> bool:
        """Inject `fault`; True when the request is finished (no normal answer follows)."""
        if fault.kind == FaultKind.SLOW:
            self.server.stopping.wait(fault.delay)
            return False
        if fault.kind == FaultKind.STATUS:
            request.status = fault.status
            self._send_json(fault.status, {"error": f"sandbox fault: HTTP {fault.status}"})
            return True
        if fault.kind == FaultKind.RETRY_AFTER:
            request.status = fault.status
            self._send_json(
                fault.status,
                {"error": f"sandbox fault: HTTP {fault.status}, retry after {fault.retry_after}"},
                headers={"Retry-After": fault.retry_after},
            )
            return True
        if fault.kind == FaultKind.REPLY_LOST:
            return False  # the route runs; _answer_route hangs up instead of answering
        if fault.kind == FaultKind.TIMEOUT:
            self.server.stopping.wait(fault.delay)
        # TIMEOUT (after holding) and DROP: close without a byte of response
        self._hang_up()
        return True

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- routes ---------------------------------------------------------------------------------------
    def _answer_route(self, request: RecordedRequest, *, reply_lost: bool = False) -> None:
        """Answer from the matching route; with `reply_lost` the route acts on the request (a vendor
        commits it) but its answer never leaves: the connection closes first."""
        found = self.server.overrides.find(request.method, request.path) or routes.find(request.method, request.path)
        if found is None:
            request.status = 404
            self._send_json(
                404,
                {
                    "error": f"sandbox: no route for {request.method} {request.path}",
                    "method": request.method,
                    "path": request.path,
                },
            )
            return
        route, match = found
        request.route = route.pattern.pattern
        request.match = MatchGroups(match.groupdict())
        try:
            reply = route.handler(request) if route.handler else route.reply
            reply = _as_reply(reply)
        except Exception as exc:  # a broken fake must show up in the test, not hang it
            traceback.print_exc(file=sys.stderr)
            request.status = 500
            self._send_json(500, {"error": f"sandbox route handler raised {type(exc).__name__}: {exc}"})
            return
        body, headers = reply.encoded()
        request.status = reply.status
        if reply_lost:
            self._hang_up()
            return
        self._send(reply.status, body, headers)

    # -- control API ----------------------------------------------------------------------------------
    def _control(self, method: str, path: str, params: dict[str, list[str]], body: bytes) -> None:
        server = self.server
        if (method, path) == ("GET", "/health"):
            self._send_json(
                200,
                {
                    "status": "ok",
                    "pid": os.getpid(),
                    "url": server.url,
                    "routes": len(routes.ROUTES),
                    "recorded": len(server.recorder),
                    "started_at": server.started_at.isoformat(),
                },
            )
        elif (method, path) == ("GET", "/routes"):
            listing = [
                {"method": r.method, "path": r.pattern.pattern, "dynamic": r.handler is not None, "override": True}
                for r in server.overrides.list()
            ] + [
                {"method": r.method, "path": r.pattern.pattern, "dynamic": r.handler is not None, "override": False}
                for r in routes.ROUTES
            ]
            self._send_json(200, {"routes": listing})
        elif (method, path) == ("POST", "/routes"):
            try:
                entry = server.overrides.add(json.loads(body or b"null"))
            except (ValueError, UnicodeDecodeError, re.error) as exc:
                self._send_json(400, {"error": f"bad route: {exc}"})
                return
            self._send_json(201, {"method": entry.method, "path": entry.pattern.pattern})
        elif (method, path) == ("DELETE", "/routes"):
            server.overrides.clear()
            self._send_json(200, {"cleared": True})
        elif (method, path) == ("GET", "/requests"):
            prefix = params.get("prefix", [None])[0]
            try:
                since = int(params.get("since", ["0"])[0])
            except ValueError:
                self._send_json(400, {"error": "since must be a whole number"})
                return
            found = server.recorder.list(prefix, since)
            self._send_json(200, {"requests": [r.to_wire() for r in found]})
        elif (method, path) == ("DELETE", "/requests"):
            server.recorder.clear()
            self._send_json(200, {"cleared": True})
        elif (method, path) == ("GET", "/faults"):
            self._send_json(200, {"faults": [asdict(f) for f in server.faults.list()]})
        elif (method, path) == ("POST", "/faults"):
            try:
                fault = server.faults.add(json.loads(body or b"null"))
            except (ValueError, UnicodeDecodeError) as exc:
                self._send_json(400, {"error": f"bad fault: {exc}"})
                return
            self._send_json(201, asdict(fault))
        elif (method, path) == ("DELETE", "/faults"):
            server.faults.clear()
            self._send_json(200, {"cleared": True})
        elif (method, path) == ("POST", "/reset"):
            server.faults.clear()
            server.overrides.clear()
            server.recorder.clear()
            failed = run_reset_hooks()
            if failed:
                self._send_json(500, {"error": f"sandbox reset hook(s) failed: {'; '.join(failed)}"})
                return
            self._send_json(200, {"cleared": True})
        else:
            self._send_json(404, {"error": f"sandbox control API has no {method} {CONTROL_PREFIX}{path}"})

    # -- responses -------------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its own timeout): nothing to answer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if not self.server.quiet:
            sys.stderr.write(f"sandbox {self.log_date_time_string()} {format % args}\n")


def run_reset_hooks() -> list[str]:
    """Run every route module's reset hook; returns what failed (each failure is also on stderr)."""
    failed = []
    for hook in list(routes.RESET_HOOKS):
        try:
            hook()
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            failed.append(f"{getattr(hook, '__qualname__', hook)} raised {type(exc).__name__}: {exc}")
    return failed


def _as_reply(value) -> routes.Reply:
    if isinstance(value, routes.Reply):
        return value
    if isinstance(value, (dict, list)):
        return routes.Reply(200, json=value)
    raise TypeError(f"a sandbox route handler must return routes.Reply (or a dict/list), not {type(value).__name__}")


# -- SandboxServer: the server in its own process ---------------------------------------------------
_live: set[SandboxServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop()


class SandboxServer(SandboxClient):
    """Start `python -m wedsync_integrations.sandbox` on a free loopback port and control it.

    The process loads the project's settings (DJANGO_SETTINGS_MODULE of this process, else the
    project's), every installed app's `sandbox` module and any `route_modules` given. It stops on
    `stop()`/context exit, at interpreter exit, and by itself when this process dies (it watches
    its stdin pipe), so a crashed test session leaves no orphan behind.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        route_modules: tuple[str, ...] | list[str] = (),
        settings_module: str | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
        quiet: bool = True,
    ):
        super().__init__("http://not-started")
        self.host, self.port = host, port
        self.route_modules = list(route_modules)
        self.settings_module = settings_module
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.quiet = quiet
        self.process: subprocess.Popen | None = None
        self._stderr = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> SandboxServer:
        if self.process is not None:
            return self
        cmd = [sys.executable, "-m", "wedsync_integrations.sandbox", "--host", self.host, "--port", str(self.port)]
        cmd += ["--exit-with-parent"] + (["--quiet"] if self.quiet else [])
        for module in self.route_modules:
            cmd += ["--routes", module]
        env = {**os.environ, **self.extra_env}
        env["DJANGO_SETTINGS_MODULE"] = (
            self.settings_module or os.environ.get("DJANGO_SETTINGS_MODULE") or "wedsync_integrations.settings"
        )
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        _live.add(self)
        try:
            self.url = self._await_ready_line()
            self._await_health()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        _live.discard(self)
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()  # the server's stdin watcher shuts it down
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            process.stdout.close()
        self.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _call(self, method: str, path: str, **kwargs):
        if self.process is None:
            raise SandboxError("the sandbox is not running: use `with SandboxServer() as sandbox:` or call start()")
        return super()._call(method, path, **kwargs)

    def stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def _await_ready_line(self) -> str:
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self.process.stdout

        def pump():
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, name="sandbox-stdout", daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SandboxError(f"sandbox did not start within {self.startup_timeout}s:\n{self.stderr_tail()}")
            text = line.decode(errors="replace").strip()
            if text.startswith(READY_LINE):
                return text[len(READY_LINE) :].strip()
            if not line:
                self.process.wait(timeout=5)
                raise SandboxError(
                    f"sandbox exited with code {self.process.returncode} before it was ready:\n{self.stderr_tail()}"
                )

    def _await_health(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self.health()
                return
            except SandboxError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)


# -- the process entry point (used by __main__) -------------------------------------------------------
def serve(server: SandboxHTTPServer, *, exit_with_parent: bool, ready=sys.stdout) -> None:
    """Announce the URL on `ready`, serve until SIGTERM/SIGINT or (optionally) stdin EOF."""

    def stop(*_):
        threading.Thread(target=server.shutdown, name="sandbox-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if exit_with_parent:

        def watch_parent():
            # our parent holds the other end of stdin: EOF means it closed it or died
            with contextlib.suppress(OSError, ValueError):
                while sys.stdin.buffer.read(4096):
                    pass
            stop()

        threading.Thread(target=watch_parent, name="sandbox-parent-watch", daemon=True).start()
    ready.write(f"{READY_LINE} {server.url}\n")
    ready.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()

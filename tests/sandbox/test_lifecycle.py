"""Starting and stopping the sandbox process: loopback only, a reported port, no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from wedsync_integrations.sandbox.client import RecordedRequest, SandboxError
from wedsync_integrations.sandbox.server import (
    NotLoopbackError,
    Recorder,
    SandboxHTTPServer,
    SandboxServer,
    loopback_address,
)

ROOT = Path(__file__).resolve().parents[2]


def _port_accepts(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return True
    except OSError:
        return False


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "8.8.8.8"])
def test_the_server_refuses_to_bind_anything_but_loopback(host):
    with pytest.raises(NotLoopbackError, match="binds loopback addresses only"):
        SandboxHTTPServer(host, 0)


def test_the_ipv6_loopback_address_is_accepted():
    try:
        server = SandboxHTTPServer("::1", 0)
    except OSError as exc:  # NotLoopbackError is a ValueError, so this is only "no IPv6 here"
        pytest.skip(f"no IPv6 loopback on this machine: {exc}")
    try:
        assert server.url.startswith("http://[::1]:")
    finally:
        server.server_close()


def test_using_a_server_before_it_started_says_so():
    with pytest.raises(SandboxError, match="the sandbox is not running"):
        SandboxServer().requests()


def test_localhost_resolves_to_a_loopback_address():
    family, address = loopback_address("localhost")
    assert address in ("127.0.0.1", "::1")


def test_the_command_line_refuses_a_public_host_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "-m", "wedsync_integrations.sandbox", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "binds loopback addresses only" in result.stderr and "0.0.0.0" in result.stderr
    assert result.stdout == ""


def test_sandbox_server_reports_a_refused_host_instead_of_hanging():
    with pytest.raises(Exception, match="binds loopback addresses only") as caught:
        SandboxServer(host="0.0.0.0").start()
    assert "exited with code 2" in str(caught.value)


def test_a_route_module_that_fails_to_load_is_reported_with_its_error():
    with pytest.raises(SandboxError, match="No module named 'tests.sandbox.no_such_routes'"):
        SandboxServer(route_modules=["tests.sandbox.no_such_routes"]).start()


def test_a_busy_port_is_reported():
    with SandboxServer() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(Exception, match="cannot listen on 127.0.0.1"):
            SandboxServer(port=port).start()


def test_port_zero_reports_the_bound_port_and_stop_ends_the_process():
    server = SandboxServer().start()
    try:
        assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
        assert server.health()["url"] == server.url
        assert requests.get(server.url + "/anything", timeout=5).status_code == 404
        process = server.process
    finally:
        server.stop()
    assert process.poll() is not None
    assert not _port_accepts(server.url)


def test_the_sandbox_exits_by_itself_when_its_parent_is_killed():
    script = (
        "import os, signal, sys\n"
        "from wedsync_integrations.sandbox.server import SandboxServer\n"
        "server = SandboxServer().start()\n"
        "print(server.url, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "wedsync_integrations.test_settings"}
    parent = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert parent.returncode == -signal.SIGKILL
    url = parent.stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    assert _wait_until(lambda: not _port_accepts(url), timeout=10), f"orphaned sandbox still answering at {url}"


def test_the_recording_is_bounded_by_count_and_by_bytes():
    recorder = Recorder(max_requests=3, max_bytes=10)
    for n in range(5):
        recorder.add(RecordedRequest("POST", f"/r/{n}", body=b"x"))
    assert [r.path for r in recorder.list()] == ["/r/2", "/r/3", "/r/4"]
    recorder.add(RecordedRequest("POST", "/big", body=b"y" * 9))
    assert [r.path for r in recorder.list()] == ["/r/4", "/big"]
    assert [r.seq for r in recorder.list()] == [5, 6]  # sequence numbers keep counting

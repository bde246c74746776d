"""The demo's child processes never outlive it, and it says so when its ports are taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from wedsync_integrations.core.processes import die_with_parent

PARENT = """
import subprocess, sys, time
from wedsync_integrations.core.processes import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                         preexec_fn=die_with_parent())
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_child_is_stopped_when_its_parent_is_killed_outright():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)

    parent.kill()  # SIGKILL: no clean-up code runs in the parent
    parent.wait(timeout=10)

    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)


def test_die_with_parent_is_harmless_off_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert die_with_parent(signal.SIGKILL) is None


def test_run_demo_refuses_a_taken_port_before_touching_anything():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            CommandError, match=f"port {port} .*already in use.*manage.py run_demo --port 8001 --sandbox-port 8901"
        ):
            call_command("run_demo", "--port", str(port))  # no database: it stops before migrating

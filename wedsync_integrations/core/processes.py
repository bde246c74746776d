"""Child processes that never outlive the process that started them (demo runner, worker tests)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM):
    """A Popen `preexec_fn`: the kernel sends `sig` to the child when its parent dies, however it
    dies (SIGKILL, a closed terminal), so no orphan keeps a port or a database open. Linux only;
    elsewhere None (Popen then runs nothing)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return preexec

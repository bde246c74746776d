"""pytest fixtures for the vendor sandbox (registered in tests/conftest.py).

    def test_series_reaches_datadog(sandbox, make_config, organisation):
        config = make_config("monitoring", organisation, "datadog",
                             settings={"base_url": sandbox.vendor_url("datadog")}, secrets={...})
        sandbox.fault("/datadog", kind="status", status=503)   # the first call fails
        ...
        (first, second) = sandbox.requests("/datadog/api/v2/series")

One sandbox process per test session (per xdist worker, each on its own free port); recorded
requests and armed faults are cleared before every test that uses `sandbox`.
"""

from __future__ import annotations

import pytest

from .server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server():
    """The session's sandbox process. Prefer the `sandbox` fixture, which starts each test clean."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server) -> SandboxServer:
    """A running sandbox with no recorded requests and no armed faults."""
    sandbox_server.reset()
    return sandbox_server

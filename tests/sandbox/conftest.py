"""A sandbox process that also serves tests/sandbox/routes_for_tests.py (a vendor at /testvendor)."""

from __future__ import annotations

import pytest

from wedsync_integrations.sandbox.server import SandboxServer

from . import providers_for_tests

TEST_ROUTES = "tests.sandbox.routes_for_tests"


@pytest.fixture(scope="session")
def vendor_sandbox_server():
    with SandboxServer(route_modules=[TEST_ROUTES]) as server:
        yield server


@pytest.fixture
def vendor_sandbox(vendor_sandbox_server) -> SandboxServer:
    vendor_sandbox_server.reset()
    return vendor_sandbox_server


@pytest.fixture
def sandboxed_provider():
    provider = providers_for_tests.register()
    yield provider
    providers_for_tests.unregister()

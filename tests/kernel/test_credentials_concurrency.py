"""Eight workers find the same rotating refresh token expired at once: exactly one refresh reaches
the token endpoint (a second would spend a single-use token twice and disconnect the tenant),
every worker gets a valid access token, and the stored refresh token is the newest."""

from __future__ import annotations

import threading
import time

import pytest
import responses
from django.db import connection, connections

from .credential_providers import CLIENT_ID, CLIENT_SECRET, LEDGER_TOKEN_URL, expired_credential

WORKERS = 8


@pytest.mark.django_db(transaction=True)
def test_eight_workers_renewing_at_once_spend_the_refresh_token_once(ledger_provider, make_config, organisation):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database cannot serialise writers across threads (CI runs it on PostgreSQL)")
    config = make_config(
        "monitoring", organisation, "ledger",
        secrets={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, credential=expired_credential(refresh="rt-0"),
    )  # fmt: skip
    spent: list[str] = []
    issued = iter(range(1, 100))

    def token_endpoint(request):
        body = dict(pair.split("=") for pair in request.body.split("&"))
        spent.append(body["refresh_token"])
        time.sleep(0.05)  # a real round trip: the others pile up behind the lock meanwhile
        n = next(issued)
        return 200, {}, f'{{"access_token": "at-{n}", "refresh_token": "rt-{n}", "expires_in": 1800}}'

    start = threading.Barrier(WORKERS)
    tokens, errors = [], []

    def worker():
        try:
            start.wait()
            fresh = type(config).objects.get(pk=config.pk)
            tokens.append(fresh.get_provider().credential_manager.current().access_token)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, LEDGER_TOKEN_URL, callback=token_endpoint)
        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert spent == ["rt-0"]  # exactly one refresh request, with the token stored before
    assert tokens == ["at-1"] * WORKERS
    config.refresh_from_db()
    assert config.credential["refresh_token"] == "rt-1"

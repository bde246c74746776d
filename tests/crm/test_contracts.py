"""Every CRM provider under the kernel's provider contract (tests/contract.py): 401/403 stop the
configuration and keep the report, 429 waits as asked, 5xx and timeouts are retried, secrets
never reach errors, logs or sync logs, unknown settings are refused, the health check is true."""

from __future__ import annotations

import pytest
import responses

from crm import value
from crm.models import CRMConfig
from tests.contract import ProviderContract
from tests.fixtures import load
from wedsync_integrations.integrations import health, outbox

from .conftest import HOOK_URL, JUNE, LIGHT_BLUE_API, LIGHT_BLUE_KEY, STUDIO_EMAIL, TAVE_API, TAVE_KEY, WHSEC

pytestmark = pytest.mark.django_db


class _Report(ProviderContract):
    family = "crm"

    def enqueue(self, config: CRMConfig):
        report = value.build_report(config.organisation, JUNE)
        return outbox.enqueue(config, operation="report", payload=config.get_provider().report_payload(report))


class TestTaveContract(_Report):
    provider = "tave"
    write_url = f"{TAVE_API}/note"

    def make(self, organisation, make_config):
        return make_config("crm", organisation, "tave", secrets={"api_key": TAVE_KEY})

    def mock_success(self, rsps):
        # after a failed attempt the provider first looks for its note (Tave has no idempotency key)
        rsps.get(self.write_url, json=load("crm", "tave", "note_collection"))
        rsps.post(self.write_url, status=201, json=load("crm", "tave", "note_created"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.get(f"{TAVE_API}/studio/me", json=load("crm", "tave", "studio_me"))
        else:
            rsps.get(f"{TAVE_API}/studio/me", status=401, json={"title": "Unauthorized", "detail": f"key {TAVE_KEY}"})


class TestLightBlueContract(_Report):
    provider = "lightblue"
    write_url = LIGHT_BLUE_API

    def make(self, organisation, make_config):
        return make_config("crm", organisation, "lightblue", settings={"contact_email": STUDIO_EMAIL},
                           secrets={"api_key": LIGHT_BLUE_KEY})  # fmt: skip

    def mock_success(self, rsps):
        rsps.post(self.write_url, body=load("crm", "lightblue", "reply_success"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.post(self.write_url, body=load("crm", "lightblue", "reply_invalid_type"))
        else:
            rsps.post(self.write_url, status=503, body=f"down for maintenance (key={LIGHT_BLUE_KEY})")


class TestHoneyBookContract(_Report):
    provider = "honeybook"
    write_url = HOOK_URL

    def make(self, organisation, make_config):
        return make_config("crm", organisation, "honeybook", secrets={"hook_url": HOOK_URL, "signing_secret": WHSEC})

    def mock_success(self, rsps):
        rsps.post(self.write_url, json=load("crm", "honeybook", "zapier_catch_hook_reply"))

    def mock_health(self, rsps, ok):
        """Nothing to mock: the check makes no call (a post to a catch hook runs the studio's zap)."""

    def test_the_health_check_tells_the_truth(self, rsps, config):
        """HoneyBook's check cannot ask anyone (see providers/honeybook.py): it is true to what
        can be known, the hook URL passing the outbound guard and the last delivery's outcome."""
        assert health.check(config, refresh=True)["ok"] is True
        assert not rsps.calls
        self.fail_write_once(rsps, status=500, body=f"echo {HOOK_URL}")
        self.deliver(config)
        result = health.check(config, refresh=True)
        assert result["ok"] is False and "the last delivery failed" in result["message"]
        for value_ in self.hidden(config):
            assert value_ not in result["message"]
        config.secrets = {**config.secrets, "hook_url": "https://127.0.0.1.nip.io.invalid/hook"}
        config.save()
        with responses.RequestsMock():
            assert health.check(config, refresh=True)["ok"] is False

"""The contract every outbound provider's tests run (as Django's SessionTestsMixin runs for every
session backend): one class per vendor subclasses ProviderContract and says how to build a working
configuration and one representative vendor write; the kernel's promises are then checked the same
way for every vendor:

- 401 -> renewed once and retried once (vendor-issued credentials), then the configuration stops;
  a static key stops at once. 403 -> the configuration stops. The item is kept either way.
- 429 with Retry-After -> retried no sooner than the vendor asked.
- 5xx and timeouts -> retried (the item stays pending, the configuration keeps going).
- the tenant's secrets and issued tokens appear in no error, log line or sync log, even when the
  vendor echoes them.
- a setting the provider does not know is refused, naming it.
- the health check answers ok for a working configuration and not ok, with no secret, otherwise.

    class TestDatadogContract(ProviderContract):
        family, provider = "monitoring", "datadog"
        write_method, write_url = "POST", "https://api.datadoghq.com/api/v2/series"

        def make(self, organisation, make_config): ...            # a working config
        def enqueue(self, config): ...                             # one outbox item of a vendor write
        def mock_success(self, rsps): ...                          # the vendor accepting that write
        def mock_health(self, rsps, ok): ...                       # the health check's call(s)

Vendors whose OAuth token endpoint is involved set `token_url`; `mock_token(rsps)` answers it.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from wedsync_integrations.integrations import health, outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family, validate_config_data

ECHO = "the vendor echoed: {secrets}"


class ProviderContract:
    family: str = ""
    provider: str = ""
    write_method: str = "POST"
    write_url: str | re.Pattern = ""
    token_url: str = ""  # set for vendor-issued credentials (OAuth token endpoint)
    unknown_setting = {"definitely_not_a_setting": "x"}

    # -- what each vendor's test supplies ---------------------------------------------------------
    def make(self, organisation, make_config):
        raise NotImplementedError

    def enqueue(self, config):
        raise NotImplementedError

    def mock_success(self, rsps) -> None:
        rsps.add(self.write_method, self.write_url, status=200, json={})

    def mock_health(self, rsps, ok: bool) -> None:
        raise NotImplementedError

    def make_unhealthy(self, rsps, config) -> None:
        """What makes the health check fail: by default the vendor refusing it. A vendor whose
        check cannot call it (no side-effect-free endpoint) breaks the configuration instead."""
        self.mock_health(rsps, ok=False)

    def mock_token(self, rsps) -> None:
        """The token endpoint issuing a fresh token (vendor-issued credentials only)."""
        rsps.add(
            responses.POST,
            self.token_url,
            json={"access_token": "contract-renewed-access", "refresh_token": "contract-renewed-refresh",
                  "token_type": "Bearer", "expires_in": 3600},
        )  # fmt: skip

    # -- fixtures ----------------------------------------------------------------------------------
    @pytest.fixture
    def config(self, organisation, make_config):
        return self.make(organisation, make_config)

    @pytest.fixture
    def rsps(self):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield mock

    # -- helpers ----------------------------------------------------------------------------------
    def deliver(self, config):
        item = self.enqueue(config)
        outcome = outbox.deliver_item(get_family(self.family), item)
        item.refresh_from_db()
        config.refresh_from_db()
        return outcome, item

    def fail_write_once(self, rsps, **reply) -> None:
        """The vendor write fails once (registered first: responses answers in order)."""
        rsps.add(self.write_method, self.write_url, **reply)

    def with_valid_token(self, rsps, config) -> None:
        """Make sure the config holds a valid issued token, then forget the calls that took."""
        self.mock_token(rsps)
        config.get_provider().credential_manager.current()
        config.refresh_from_db()
        rsps.reset()

    def renewable(self, config) -> bool:
        return config.provider_class().credentials is not None and bool(self.token_url)

    def hidden(self, config) -> list[str]:
        return [value for value in config.get_provider().hidden_values() if len(value) >= 6]

    # -- the contract ---------------------------------------------------------------------------------
    def test_a_working_configuration_delivers(self, rsps, config):
        self.mock_success(rsps)
        if self.renewable(config):
            self.mock_token(rsps)
        outcome, item = self.deliver(config)
        assert outcome.state == RetryState.SUCCEEDED, item.last_error
        assert config.status == ConfigStatus.ACTIVE

    def test_a_401_is_renewed_once_where_the_vendor_issues_tokens_then_stops(self, rsps, config):
        if self.renewable(config):
            self.with_valid_token(rsps, config)
            self.fail_write_once(rsps, status=401, json={"error": "unauthorised"})
            self.mock_token(rsps)
            self.mock_success(rsps)
            outcome, _ = self.deliver(config)
            assert outcome.state == RetryState.SUCCEEDED  # renewed once, retried once
            assert sum(call.request.url.startswith(self.token_url) for call in rsps.calls) == 1
            rsps.reset()
            self.fail_write_once(rsps, status=401)
            self.mock_token(rsps)
        self.fail_write_once(rsps, status=401, json={"error": "unauthorised"})
        outcome, item = self.deliver(config)
        assert outcome.state == RetryState.PENDING  # kept for "resume"
        assert config.status == ConfigStatus.STOPPED and "401" in config.status_reason
        assert item.state == RetryState.PENDING

    def test_a_403_stops_the_configuration_and_keeps_the_item(self, rsps, config):
        if self.renewable(config):
            self.mock_token(rsps)
        self.fail_write_once(rsps, status=403, json={"error": "forbidden"})
        outcome, item = self.deliver(config)
        assert config.status == ConfigStatus.STOPPED and "403" in config.status_reason
        assert item.state == RetryState.PENDING

    def test_a_429_waits_at_least_as_long_as_the_vendor_asks(self, rsps, config):
        if self.renewable(config):
            self.mock_token(rsps)
        self.fail_write_once(rsps, status=429, headers={"Retry-After": "120"}, json={})
        before = timezone.now()
        outcome, item = self.deliver(config)
        assert outcome.state == RetryState.PENDING and item.attempts == 1
        assert item.next_attempt_at >= before + timedelta(seconds=120)
        assert config.status != ConfigStatus.STOPPED

    @pytest.mark.parametrize("failure", ["503", "500", "timeout", "connection"])
    def test_server_errors_and_timeouts_are_retried(self, rsps, config, failure):
        if self.renewable(config):
            self.mock_token(rsps)
        if failure == "timeout":
            self.fail_write_once(rsps, body=requests.ReadTimeout("read timed out"))
        elif failure == "connection":
            self.fail_write_once(rsps, body=requests.ConnectionError("connection reset"))
        else:
            self.fail_write_once(rsps, status=int(failure), body="upstream trouble")
        outcome, item = self.deliver(config)
        assert outcome.state == RetryState.PENDING and item.next_attempt_at > timezone.now()
        assert config.status == ConfigStatus.FAILING
        self.mock_success(rsps)
        outbox.replay([item])
        item.refresh_from_db()
        assert item.state == RetryState.SUCCEEDED

    def test_secrets_and_tokens_never_reach_errors_logs_or_sync_logs(self, rsps, config, caplog):
        if self.renewable(config):
            self.mock_token(rsps)
            config.get_provider().credential_manager.current()  # the issued token exists to be echoed
            config.refresh_from_db()
        hidden = self.hidden(config)
        assert hidden, "a provider under contract has a secret"
        self.fail_write_once(rsps, status=400, body=ECHO.format(secrets=" ".join(hidden)))
        with caplog.at_level(logging.DEBUG):
            _, item = self.deliver(config)
        log = get_family(self.family).sync_log_model.objects.filter(provider=self.provider).latest("started_at")
        for text in (item.last_error, log.error, str(log.detail), config.last_error, caplog.text):
            for value in hidden:
                assert value not in text

    def test_an_unknown_setting_is_refused_by_name(self, config):
        provider_cls = config.provider_class()
        settings = {**config.settings, **self.unknown_setting}
        errors = validate_config_data(provider_cls, settings, config.secrets, partial_secrets=False)
        (name,) = self.unknown_setting
        assert errors.get(f"settings.{name}") == "unknown setting"

    def test_the_health_check_tells_the_truth(self, rsps, config):
        if self.renewable(config):
            self.mock_token(rsps)
        self.mock_health(rsps, ok=True)
        assert health.check(config, refresh=True)["ok"] is True
        rsps.reset()
        if self.renewable(config):
            self.mock_token(rsps)
        self.make_unhealthy(rsps, config)
        result = health.check(config, refresh=True)
        assert result["ok"] is False
        for value in self.hidden(config):
            assert value not in result["message"]

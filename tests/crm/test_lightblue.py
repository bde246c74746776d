"""Light Blue: the report into the studio's Inbox, form-encoded as its API takes it; a repeated ID
(-4) counts as delivered; the documented refusals are permanent; nothing is ever read back."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
import responses
from freezegun import freeze_time

from crm.providers.lightblue import parse_reply
from crm.sync import sync_crm
from tests.fixtures import load
from wedsync_integrations.integrations import health, outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import JUNE, LIGHT_BLUE_API, LIGHT_BLUE_KEY, NOW, STUDIO_EMAIL

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")


def reply(name: str) -> str:
    """What Light Blue answers (its documented status codes, tests/crm/fixtures/lightblue/reply_*.txt)."""
    return load("crm", "lightblue", f"reply_{name}")


@pytest.fixture
def lightblue(organisation, usage, lightblue_config):
    usage(organisation, JUNE, requests=100)
    return lightblue_config()


def form(call) -> dict:
    return {key: values[-1] for key, values in parse_qs(call.request.body, keep_blank_values=True).items()}


def test_the_100_request_example_reaches_the_inbox(lightblue):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body=reply("success"))
        result = sync_crm(lightblue, now=NOW)
        (call,) = api.calls
    assert (result.queued, result.delivered) == (1, 1)
    assert call.request.url == LIGHT_BLUE_API
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = form(call)
    example = parse_qs(load("crm", "lightblue", "contact_form_example"))  # docs/vendors/lightblue.md
    assert set(sent) == set(example)
    assert {key: sent[key] for key in ("key", "type", "Source", "SourceAPIVersion", "ID", "ContactEmail")} == {
        "key": LIGHT_BLUE_KEY,
        "type": "contact form",
        "Source": "WedSync",
        "SourceAPIVersion": "1",
        "ID": "wedsync:acme:2026-06",
        "ContactEmail": STUDIO_EMAIL,
    }
    message = sent["Message"]
    for line in ("- AI requests: 100 (100 completed)", "- Time saved: 25 hours", "- Cost savings: £250.00",
                 "- Revenue opportunity: £1,000.00", "- Client retention improvement: 15%"):  # fmt: skip
        assert line in message
    assert message.endswith("(ref wedsync:acme:2026-06)")
    item = FAMILY.retry_model.objects.get()
    assert item.result == {"code": 0, "id": "wedsync:acme:2026-06"}
    assert LIGHT_BLUE_KEY not in str(item.payload)


def test_a_resend_after_a_dropped_connection_repeats_the_id_and_minus_4_is_done(lightblue):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body=requests.ConnectionError("Connection aborted"))
        sync_crm(lightblue, now=NOW)
        api.replace(responses.POST, LIGHT_BLUE_API, body=reply("duplicate"))  # it had arrived after all
        outbox.replay([FAMILY.retry_model.objects.get()])
        first, second = (form(call) for call in api.calls)
    assert first == second and second["ID"] == "wedsync:acme:2026-06"
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.SUCCEEDED and item.result["duplicate"] is True and item.result["code"] == -4


@pytest.mark.parametrize(
    "answer, stopped, message",
    [
        ("https_required", True, "Light Blue refuses plain HTTP"),
        ("invalid_type", False, "invalid request type or no valid parameters"),
    ],
)
def test_documented_refusals_are_permanent(lightblue, answer, stopped, message):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body=reply(answer))
        sync_crm(lightblue, now=NOW)
    item = FAMILY.retry_model.objects.get()
    lightblue.refresh_from_db()
    assert message in item.last_error
    if stopped:  # the configuration is wrong: kept for "resume" once fixed
        assert item.state == RetryState.PENDING and lightblue.status == ConfigStatus.STOPPED
    else:
        assert item.state == RetryState.DEAD


def test_an_unlisted_code_is_shown_to_staff_not_retried(lightblue):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body=f"-7 Key {LIGHT_BLUE_KEY} is not valid")
        sync_crm(lightblue, now=NOW)
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.DEAD and "refused with status -7" in item.last_error
    assert LIGHT_BLUE_KEY not in item.last_error


@pytest.mark.parametrize("answer", ["<html>Service temporarily unavailable</html>", ""])
def test_a_reply_without_a_status_code_is_retried(lightblue, answer):
    with responses.RequestsMock() as api, freeze_time(NOW):
        api.post(LIGHT_BLUE_API, body=answer)
        sync_crm(lightblue, now=NOW)
    item = FAMILY.retry_model.objects.get()
    assert item.state == RetryState.PENDING and "no status code" in item.last_error


def test_replies_are_read_by_their_leading_integer():
    assert parse_reply("0") == (0, "")
    assert parse_reply("-4 Duplicate API request") == (-4, "Duplicate API request")
    assert parse_reply("  -20\nYou must use HTTPS") == (-20, "You must use HTTPS")
    assert parse_reply("OK") == (None, "OK")


def test_health_asks_for_a_type_light_blue_does_not_have(lightblue):
    with responses.RequestsMock() as api:
        api.post(LIGHT_BLUE_API, body=reply("invalid_type"))
        result = health.check(lightblue, refresh=True)
        sent = form(api.calls[0])
    assert result["ok"] and "the key is proven by the first report" in result["message"]
    assert sent == {"key": LIGHT_BLUE_KEY, "type": "wedsync connection check"}  # nothing an Inbox would take

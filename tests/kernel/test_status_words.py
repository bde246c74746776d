"""Issue 13, item 5: a configuration's status says "retrying" only when the outbox will really send
an item again; otherwise it says what a person must do. Each case is reached the way production
reaches it (a delivery through the outbox), then read where staff read it: the status word, the
configuration list and the configuration's page. Plus the retry queue's default view and the
lists' clipped long text."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from wedsync_integrations.integrations import health, outbox
from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.states import (
    ConfigStatus,
    CredentialStatus,
    QueueFacts,
    RetryState,
    Tone,
    describe_status,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(fake_provider, make_config, organisation):
    return make_config("monitoring", organisation, "fake")


def deliver(config, family, *outcomes, items: int = 1):
    """Queue `items` items and drain them with the fake vendor answering `outcomes` in turn."""
    type(config.get_provider()).script = list(outcomes)
    for number in range(items):
        outbox.enqueue(config, operation="send", payload={"n": number})
    outbox.drain_pair(family, config.organisation_id, config.provider)
    config.refresh_from_db()


def listed_status(admin_client, config) -> str:
    """The status cell of `config` on the real configuration list, and its hover text."""
    page = admin_client.get(reverse("admin:monitoring_monitoringconfig_changelist")).content.decode()
    cell = re.search(r'<td class="field-status_column">(.*?)</td>', page, re.S).group(1)
    return cell


def test_an_item_that_will_be_sent_again_reads_retrying_with_its_next_attempt(config, family, admin_client):
    with freeze_time("2026-07-04T13:00:00Z"):
        deliver(config, family, RetryableError("HTTP 503", status=503))
        word = health.status_word(config)
    assert config.status == ConfigStatus.FAILING
    item = family.retry_model.objects.get()
    expected = f"Retrying 1 item (next attempt {timezone.localtime(item.next_attempt_at):%H:%M})"
    assert (word.text, word.tone) == (expected, Tone.WAITING)
    assert not word.needs_person


def test_a_failing_configuration_whose_only_item_is_dead_says_replay_not_retrying(config, family, admin_client):
    """The issue's case: "Failing (retrying)" while its only item was dead."""
    deliver(config, family, PermanentError("HTTP 400 malformed series"))
    assert config.status == ConfigStatus.FAILING  # stored: the last delivery failed
    word = health.status_word(config)
    assert (word.text, word.tone) == ("Dead item: replay it", Tone.ACTION)
    assert "retry" not in listed_status(admin_client, config).lower()
    assert "Dead item: replay it" in listed_status(admin_client, config)


def test_retrying_and_dead_items_together_say_both(config, family):
    deliver(config, family, PermanentError("HTTP 400"), RetryableError("HTTP 503"), items=2)
    assert health.status_word(config).text.startswith("Retrying 1 item (next attempt ")
    assert health.status_word(config).text.endswith("; Dead item: replay it")
    assert health.status_word(config).tone == Tone.ACTION


def test_a_stopped_configuration_with_held_items_says_why_and_what_to_do(config, family, admin_client):
    deliver(config, family, PermanentError("HTTP 403 invalid API key", stops_config=True), items=2)
    item = family.retry_model.objects.order_by("id").first()
    assert (item.state, item.attempts) == (RetryState.PENDING, 1)  # held, not retried while stopped
    word = health.status_word(config)
    assert (word.text, word.tone) == ("Stopped: HTTP 403 invalid API key — fix and resume", Tone.ACTION)
    cell = listed_status(admin_client, config)
    assert 'title="Stopped: HTTP 403 invalid API key — fix and resume"' in cell and "retry" not in cell.lower()


def test_a_lost_grant_says_reconnect(config, family):
    config.stop("invalid_grant: the refresh token was revoked")
    type(config).objects.filter(pk=config.pk).update(credential_status=CredentialStatus.RECONNECT)
    config.refresh_from_db()
    assert health.status_word(config).text == "Reconnect needed: the vendor withdrew access — press Reconnect"


def test_a_disabled_configuration_retries_nothing(config, family):
    deliver(config, family, RetryableError("HTTP 503"))
    type(config).objects.filter(pk=config.pk).update(enabled=False)
    config.refresh_from_db()
    assert (health.status_word(config).text, health.status_word(config).tone) == ("Disabled", Tone.OFF)


def test_a_failure_with_nothing_left_to_send_asks_for_a_connection_test(config, family):
    deliver(config, family, RetryableError("HTTP 503"))
    family.retry_model.objects.update(state=RetryState.SUCCEEDED)  # e.g. delivered by a replay's own run
    assert config.status == ConfigStatus.FAILING
    assert health.status_word(config).text == "Last delivery failed, nothing queued to retry: test the connection"


def test_a_healthy_configuration_is_active(config, family):
    deliver(config, family, None)
    assert (health.status_word(config).text, health.status_word(config).tone) == ("Active", Tone.OK)


def test_the_list_reads_the_same_words_as_the_page(config, family, admin_client, make_config, make_organisation):
    deliver(config, family, RetryableError("HTTP 503"))
    other = make_config("monitoring", make_organisation(name="Zzz Florals"), "fake")
    deliver(other, family, PermanentError("HTTP 400"))
    annotated = {c.pk: c for c in health.with_queue_facts(family.config_model.objects.all(), family)}
    for each in (config, other):
        assert health.status_word(annotated[each.pk], health.annotated_facts(annotated[each.pk])) == health.status_word(
            each
        )


def test_the_needs_filter_agrees_with_each_status_words_tone(family, make_config, make_organisation, fake_provider,
                                                              admin_client):  # fmt: skip
    made = {}
    for name, outcome in [("retrying", RetryableError("HTTP 503")), ("dead", PermanentError("HTTP 400")),
                          ("stopped", PermanentError("HTTP 403", stops_config=True)), ("fine", None)]:  # fmt: skip
        made[name] = make_config("monitoring", make_organisation(name=name.title()), "fake")
        deliver(made[name], family, outcome)
    made["off"] = make_config("monitoring", make_organisation(name="Off"), "fake", enabled=False)
    annotated = health.with_queue_facts(family.config_model.objects.all(), family)
    for tone in Tone.values:
        filtered = {config.pk for config in annotated.filter(health.of_tone(tone))}
        expected = {c.pk for c in annotated if health.status_word(c, health.annotated_facts(c)).tone == tone}
        assert filtered == expected, tone
    page = admin_client.get(reverse("admin:monitoring_monitoringconfig_changelist") + "?needs=action")
    listed = {row.pk for row in page.context["cl"].result_list}
    assert listed == {made["dead"].pk, made["stopped"].pk}


def test_describe_status_speaks_of_a_retry_tomorrow_with_its_day():
    with freeze_time("2026-07-04T22:30:00Z"):  # 23:30 in London
        tomorrow = timezone.now() + timedelta(hours=2)
        word = describe_status(status=ConfigStatus.FAILING, queue=QueueFacts(retrying=3, next_retry_at=tomorrow))
    assert word.text == "Retrying 3 items (next attempt Sun 05 Jul 01:30)"


# -- the retry queue's list ----------------------------------------------------------------------------
def test_the_retry_queue_opens_on_unsettled_items_newest_first_and_all_is_one_click(config, family, admin_client):
    deliver(config, family, None, PermanentError("HTTP 400"), RetryableError("HTTP 503"), items=3)
    succeeded, dead, pending = family.retry_model.objects.order_by("id")
    changelist = reverse("admin:monitoring_monitoringretryitem_changelist")

    page = admin_client.get(changelist).content.decode()

    listed = [int(pk) for pk in re.findall(r'/monitoringretryitem/(\d+)/change/', page)]
    assert listed == [pending.pk, dead.pk]  # newest first; the delivered one is not in the way
    assert re.search(r'<li class="selected">\s*<a href="\?state=not_succeeded"[^>]*>Not succeeded', page)
    page = admin_client.get(changelist + "?state=all").content.decode()
    assert [int(pk) for pk in re.findall(r'/monitoringretryitem/(\d+)/change/', page)] == [
        pending.pk, dead.pk, succeeded.pk,
    ]  # fmt: skip


def test_long_errors_are_one_clipped_line_whole_on_hover(config, family, admin_client):
    error = "HTTP 400 " + "the series payload was refused because a tag value exceeded the limit; " * 4
    deliver(config, family, PermanentError(error.strip()))
    page = admin_client.get(reverse("admin:monitoring_monitoringretryitem_changelist")).content.decode()
    cell = re.search(r'<td class="field-last_error_short">(.*?)</td>', page, re.S).group(1)
    assert f'class="wsi-clip" title="{error.strip()}"' in cell
    page = admin_client.get(reverse("admin:monitoring_monitoringsynclog_changelist")).content.decode()
    assert f'title="{error.strip()}"' in page

"""Operations: beat schedules, admin (cursor, actions, no secrets), partial delivery in the kernel."""

import pytest
import responses
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time

from monitoring.models import MonitoringCursor
from monitoring.providers.datadog import SITES
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.batching import pack, send_in_parts
from wedsync_integrations.integrations.errors import PayloadTooLarge, PermanentError, RetryableError
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import DD_KEY, HOUR, NOW

pytestmark = pytest.mark.django_db
family = get_family("monitoring")


def test_the_data_migration_installs_both_beat_schedules_every_minute():
    tasks = {t.task: t for t in PeriodicTask.objects.filter(name__startswith="monitoring:")}
    assert set(tasks) == {"integrations.sync_family", "integrations.drain_family"}
    for task in tasks.values():
        assert task.enabled and task.args == '["monitoring"]'
        assert (task.interval.every, task.interval.period) == (1, "minutes")
        assert task.crontab is None  # one schedule all year: peak season is never less frequent


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")
    client.force_login(user)
    return client


def test_sync_now_needs_the_change_permission(client, django_user_model, organisation, datadog_config, make_rollup):
    """ "Sync now" exports to the tenant's vendor: not for staff who may only view configurations."""
    from django.contrib.auth.models import Permission

    config = datadog_config()
    make_rollup(organisation, HOUR)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringconfig"))
    client.force_login(viewer)
    url = reverse("admin:monitoring_monitoringconfig_changelist")
    assert 'value="sync_now"' not in client.get(url).content.decode()
    with freeze_time(NOW), responses.RequestsMock() as vendor:  # any request to Datadog fails the test
        client.post(url, {"action": "sync_now", "_selected_action": [config.pk]})
        assert not vendor.calls
    assert not family.retry_model.objects.exists()
    assert not family.audit_model.objects.filter(action="sync_now").exists()


@responses.activate
def test_admin_shows_the_cursor_and_offers_sync_test_and_replay(
    staff_client, organisation, datadog_config, make_rollup
):
    config = datadog_config()
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=503)
    url = reverse("admin:monitoring_monitoringconfig_changelist")
    with freeze_time(NOW):
        response = staff_client.post(url, {"action": "sync_now", "_selected_action": [config.pk]}, follow=True)
    assert "queued 1, delivered 0, failed 1" in response.content.decode()
    page = staff_client.get(url).content.decode()
    assert "2026-06-13 14:00" in page  # last exported hour
    assert DD_KEY not in page
    for action in ("sync_now", "test_connection", "resume_configs"):
        assert f'value="{action}"' in page
    change = staff_client.get(reverse("admin:monitoring_monitoringconfig_change", args=[config.pk])).content.decode()
    assert DD_KEY not in change
    assert "Last exported hour (UTC)" in change
    queue = staff_client.get(reverse("admin:monitoring_monitoringretryitem_changelist")).content.decode()
    assert 'value="replay_now"' in queue
    assert family.audit_model.objects.filter(action="sync_now").count() == 1

    responses.replace(responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    item = family.retry_model.objects.get()
    with freeze_time(NOW):
        staff_client.post(
            reverse("admin:monitoring_monitoringretryitem_changelist"),
            {"action": "replay_now", "_selected_action": [item.pk]},
        )
    item.refresh_from_db()
    posts = [call.request.body for call in responses.calls if call.request.method == "POST"]
    assert item.state == RetryState.SUCCEEDED and len(posts) == 2
    assert posts[0] == posts[1]  # the stored payload, resent byte for byte


def test_pack_keeps_order_and_budget():
    batches = pack(["aaaa", "bb", "cccccc", "d", "e"], size_of=len, budget=7)
    assert batches == [["aaaa", "bb"], ["cccccc"], ["d", "e"]]
    assert pack(["x" * 20], size_of=len, budget=7) == [["x" * 20]]  # too big travels alone


def test_send_in_parts_reports_what_was_and_was_not_delivered():
    sent = []

    def send(part):
        if len(part) == 4:
            raise PayloadTooLarge("too large", status=413)
        if part == [3, 4]:
            raise RetryableError("boom", status=503)
        sent.append(part)
        return len(part)

    with pytest.raises(RetryableError) as caught:
        send_in_parts([1, 2, 3, 4], send=send, payload_of=lambda part: {"items": part})
    assert sent == [[1, 2]]
    assert caught.value.unsent_payload == {"items": [3, 4]} and caught.value.sent_payload == {"items": [1, 2]}

    with pytest.raises(RetryableError) as caught:  # nothing went out: the item stays whole
        send_in_parts([3, 4], send=send, payload_of=lambda part: {"items": part})
    assert caught.value.unsent_payload is None and caught.value.sent_payload is None


def partial(error, sent, unsent):
    error.sent_payload, error.unsent_payload = sent, unsent
    return error


def test_a_partial_delivery_splits_the_item_into_what_went_out_and_what_is_left(
    fake_provider, make_config, organisation
):
    config = make_config("monitoring", organisation, "fake")
    item = outbox.enqueue(config, operation="send", payload={"items": [1, 2, 3, 4]}, dedupe_key="fake:hour:0")
    fake_provider.script = [
        partial(RetryableError("second half failed", status=503), {"items": [1, 2]}, {"items": [3, 4]}),
        partial(RetryableError("last one failed", status=503), {"items": [3]}, {"items": [4]}),
    ]
    outbox.drain_pair(family, organisation.pk, "fake")
    item.refresh_from_db()
    assert item.state == RetryState.PENDING and item.payload == {"items": [3, 4]}
    outbox.replay([item])
    outbox.replay([item])
    assert [payload for _, payload in fake_provider.delivered] == [
        {"items": [1, 2, 3, 4]},
        {"items": [3, 4]},
        {"items": [4]},
    ]

    rows = family.retry_model.objects.order_by("id")
    # the rows of the payload add up to all of it: what each attempt delivered, then the rest
    assert [(row.dedupe_key, row.state, row.payload) for row in rows] == [
        ("fake:hour:0", RetryState.SUCCEEDED, {"items": [4]}),
        ("fake:hour:0~part1", RetryState.SUCCEEDED, {"items": [1, 2]}),
        ("fake:hour:0~part2", RetryState.SUCCEEDED, {"items": [3]}),
    ]
    first_part = rows[1]
    assert first_part.result == {"delivered_part_of": item.pk, "attempt": 1}
    assert (first_part.created_at, first_part.correlation_id) == (item.created_at, item.correlation_id)


def test_a_partial_delivery_that_goes_dead_keeps_the_rest_for_a_replay(fake_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "fake")
    item = outbox.enqueue(config, operation="send", payload={"items": [1, 2, 3, 4]})
    fake_provider.script = [partial(PermanentError("rejected", status=400), {"items": [1]}, {"items": [2, 3, 4]})]
    outbox.drain_pair(family, organisation.pk, "fake")
    item.refresh_from_db()
    part = family.retry_model.objects.exclude(pk=item.pk).get()
    assert (item.state, item.payload) == (RetryState.DEAD, {"items": [2, 3, 4]})
    assert (part.state, part.payload, part.dedupe_key) == (RetryState.SUCCEEDED, {"items": [1]}, None)
    outbox.replay([item, part])  # the delivered part is never sent again
    assert [payload for _, payload in fake_provider.delivered] == [{"items": [1, 2, 3, 4]}, {"items": [2, 3, 4]}]


def test_a_part_key_stays_within_the_column_and_apart_from_other_long_keys():
    assert outbox.part_key("monitoring:7:20260613T14:abc:0", 3, 200) == "monitoring:7:20260613T14:abc:0~part3"
    first, second = "k" * 195 + "a", "k" * 195 + "b"  # 196 + 7 characters: too long
    keys = {outbox.part_key(key, 12, 200) for key in (first, second)}
    assert len(keys) == 2 and all(len(key) == 200 and key.endswith("~part12") for key in keys)


def test_sync_of_a_scrape_only_prometheus_config_sends_nothing(prometheus_config):
    from monitoring.sync import sync_monitoring

    result = sync_monitoring(prometheus_config())
    assert result.skipped == 1 and "scrape only" in result.detail["mode"]
    assert not MonitoringCursor.objects.exists() and not family.retry_model.objects.exists()


def test_settings_are_validated_with_clear_messages():
    from wedsync_integrations.integrations.registry import validate_config_data

    errors = validate_config_data(
        family.provider("prometheus"), {"pushgateway_url": "http://10.0.0.5:9091", "x": 1}, {}, partial_secrets=False
    )
    assert errors["settings.x"] == "unknown setting"
    assert "private" in errors["settings.pushgateway_url"] or "https" in errors["settings.pushgateway_url"]
    assert "secrets.bearer_token" in errors
    ok = validate_config_data(family.provider("datadog"), {"site": "UK1"}, {"api_key": DD_KEY}, partial_secrets=False)
    assert ok == {}


def test_integrations_apply_takes_the_issue_s_settings_and_secrets_for_each_vendor():
    from wedsync_integrations.integrations import config_io

    from .conftest import NR_EU_KEY, SCRAPE_TOKEN

    def document(slug, datadog, newrelic, prometheus):
        integrations = [
            {"family": "monitoring", "provider": name, "settings": settings, "secrets": secrets}
            for name, (settings, secrets) in (("datadog", datadog), ("newrelic", newrelic), ("prometheus", prometheus))
        ]
        return {"organisations": [{"slug": slug, "name": slug.title(), "vendor_type": "venue",
                                   "integrations": integrations}]}  # fmt: skip

    config_io.apply(
        document(
            "demo",
            datadog=({"site": "datadoghq.eu"}, {"api_key": DD_KEY}),
            newrelic=({"region": "eu"}, {"license_key": NR_EU_KEY}),
            prometheus=({}, {"bearer_token": SCRAPE_TOKEN}),
        )
    )
    configs = {c.provider: c for c in family.config_model.objects.filter(organisation__slug="demo")}
    assert {name: c.settings for name, c in configs.items()} == {
        "datadog": {"site": "EU1"},
        "newrelic": {"region": "EU"},
        "prometheus": {},
    }
    assert configs["datadog"].get_provider().base_url() == SITES["EU1"]
    assert dict(configs["newrelic"].secrets) == {"license_key": NR_EU_KEY}

    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(
            document(
                "other",  # the names of another vendor's settings and secrets, a region New Relic lacks
                datadog=({"region": "EU"}, {"license_key": DD_KEY}),
                newrelic=({"region": "JP"}, {"license_key": NR_EU_KEY}),
                prometheus=({"pushgateway_url": "ftp://gateway"}, {}),
            )
        )
    errors = "\n".join(caught.value.errors)
    for path in (
        "[0].settings.region",
        "[0].secrets.license_key",
        "[0].secrets.api_key",
        "[1].settings.region",
        "[2].settings.pushgateway_url",
        "[2].secrets.bearer_token",
    ):
        assert f"organisations[0].integrations{path}: " in errors
    assert DD_KEY not in errors


def test_grouping_keys_use_base64_where_a_path_segment_cannot_carry_the_value():
    from monitoring.providers.prometheus import grouping_path

    assert grouping_path("wedsync_ai", {"org": "acme"}) == "/metrics/job/wedsync_ai/org/acme"
    assert grouping_path("wedsync_ai", {"org": "a/b"}) == "/metrics/job/wedsync_ai/org@base64/YS9i"
    assert grouping_path("wedsync_ai", {"org": ""}) == "/metrics/job/wedsync_ai/org@base64/="
    assert grouping_path("ai rollup", {}) == "/metrics/job@base64/YWkgcm9sbHVw"


def test_prometheus_health_reports_the_last_scrape_and_the_pushgateway(
    client, sandbox, organisation, prometheus_config
):
    from wedsync_integrations.integrations import health

    from .conftest import SCRAPE_TOKEN

    config = prometheus_config()
    assert health.check(config)["message"] == "scrape endpoint ready (not scraped yet)"
    assert client.get("/metrics/ai/acme", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}").status_code == 200
    assert "last scraped" in health.check(config, refresh=True)["message"]
    config.settings = {"pushgateway_url": sandbox.vendor_url("pushgateway")}
    config.save()
    result = health.check(config, refresh=True)
    assert result["ok"] and result["message"].startswith("Pushgateway healthy")
    (probe,) = sandbox.requests("/pushgateway")
    assert (probe.method, probe.path) == ("GET", "/pushgateway/-/healthy")


@responses.activate
def test_the_sync_command_exports_and_backfills(organisation, newrelic_config, make_rollup, capsys):
    from datetime import timedelta

    from django.core.management import call_command

    config = newrelic_config()
    for hours_back in (0, 5, 20):
        make_rollup(organisation, HOUR - timedelta(hours=hours_back))
    responses.add(responses.POST, "https://metric-api.newrelic.com/metric/v1", status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        call_command("sync", "monitoring", "--org", "acme", "--provider", "newrelic")
    assert len(responses.calls) == 3  # every finished hour with usage in the last 48 h
    assert MonitoringCursor.objects.get(config=config).last_exported_hour == HOUR


def test_admin_sync_of_a_broken_config_reports_it_and_goes_on(staff_client, organisation, datadog_config, monkeypatch):
    from monitoring.providers.datadog import Datadog

    config = datadog_config()

    def broken(self, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(Datadog, "sync", broken)
    url = reverse("admin:monitoring_monitoringconfig_changelist")
    response = staff_client.post(url, {"action": "sync_now", "_selected_action": [config.pk]}, follow=True)
    assert response.status_code == 200 and "sync failed (ValueError)" in response.content.decode()

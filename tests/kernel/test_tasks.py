"""Kernel Celery tasks: one task per (organisation, provider), so one slow vendor or tenant
never delays the others."""

from __future__ import annotations

from unittest import mock

import pytest

from wedsync_integrations.celery import app
from wedsync_integrations.integrations import outbox, tasks
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import SyncResult, get_family

from .conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def tenants(fake_provider, keyed_provider, make_organisation, make_config):
    acme, bloom, closed, dormant = (make_organisation(slug=s) for s in ("acme", "bloom", "closed", "dormant"))
    closed.is_active = False
    closed.save()
    stopped = make_config("monitoring", bloom, "keyed", secrets={"api_key": API_KEY})
    stopped.stop("HTTP 403")
    return {
        "acme-fake": make_config("monitoring", acme, "fake"),
        "acme-keyed": make_config("monitoring", acme, "keyed", secrets={"api_key": API_KEY}),
        "bloom-fake": make_config("monitoring", bloom, "fake"),
        "bloom-keyed-stopped": stopped,
        "dormant-disabled": make_config("monitoring", dormant, "fake", enabled=False),
        "closed-fake": make_config("monitoring", closed, "fake"),
    }


def test_sync_family_fans_out_one_task_per_usable_config(tenants, monitoring_sync_handler):
    monitoring_sync_handler({})
    with mock.patch.object(tasks.sync_config, "delay") as delay:
        count = tasks.sync_family("monitoring")
    expected = {tenants[k].pk for k in ("acme-fake", "acme-keyed", "bloom-fake")}
    assert count == 3
    assert sorted(call.args for call in delay.call_args_list) == sorted(("monitoring", pk) for pk in expected)


def test_sync_family_without_a_handler_queues_nothing(tenants):
    family = get_family("monitoring")
    original, family.sync_handler = family.sync_handler, None
    try:
        with mock.patch.object(tasks.sync_config, "delay") as delay:
            assert tasks.sync_family("monitoring") == 0
        delay.assert_not_called()
    finally:
        family.sync_handler = original


def test_one_failing_tenant_does_not_stop_the_others_syncing(tenants, monitoring_sync_handler, eager):
    calls = monitoring_sync_handler({"keyed": RetryableError("HTTP 503"), "fake": SyncResult(queued=2, delivered=2)})
    tasks.sync_family.delay("monitoring")
    synced = sorted((c.organisation.slug, c.provider) for c in calls)
    assert synced == [("acme", "fake"), ("acme", "keyed"), ("bloom", "fake")]


def test_sync_config_skips_a_config_stopped_since_it_was_queued(tenants, monitoring_sync_handler):
    calls = monitoring_sync_handler({})
    assert tasks.sync_config("monitoring", tenants["bloom-keyed-stopped"].pk) == {"skipped": True}
    assert tasks.sync_config("monitoring", 999_999) == {"skipped": True}  # deleted meanwhile
    assert tasks.sync_config("monitoring", tenants["acme-fake"].pk) == {"queued": 0, "delivered": 0, "failed": 0}
    assert len(calls) == 1


def test_drain_family_fans_out_one_task_per_due_pair(tenants):
    for key in ("acme-fake", "bloom-fake", "acme-keyed"):
        outbox.enqueue(tenants[key], operation="send", payload={})
    outbox.enqueue(tenants["acme-fake"], operation="send", payload={})  # same pair: one task
    with mock.patch.object(tasks.drain_pair, "delay") as delay:
        assert tasks.drain_family("monitoring") == 3
    acme, bloom = tenants["acme-fake"].organisation_id, tenants["bloom-fake"].organisation_id
    assert sorted(call.args for call in delay.call_args_list) == sorted(
        [("monitoring", acme, "fake"), ("monitoring", acme, "keyed"), ("monitoring", bloom, "fake")]
    )


def test_drain_family_delivers_every_pair_and_a_failing_one_blocks_only_itself(tenants, fake_provider, eager):
    acme_items = [outbox.enqueue(tenants["acme-fake"], operation="send", payload={"n": n}) for n in range(2)]
    bloom_item = outbox.enqueue(tenants["bloom-fake"], operation="send", payload={"n": 9})
    fake_provider.script = [RetryableError("HTTP 503", status=503)]  # acme's first attempt fails

    tasks.drain_family.delay("monitoring")

    states = {i.pk: i.state for i in get_family("monitoring").retry_model.objects.all()}
    assert states[bloom_item.pk] == RetryState.SUCCEEDED
    assert [states[i.pk] for i in acme_items] == [RetryState.PENDING, RetryState.PENDING]

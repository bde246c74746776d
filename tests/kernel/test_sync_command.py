"""`manage.py sync FAMILY`: runs the family's sync handler per matching usable config, in-process."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.models import ConfigStatus
from wedsync_integrations.integrations.registry import SyncResult, get_family

from .conftest import API_KEY

pytestmark = pytest.mark.django_db


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def configs(fake_provider, keyed_provider, make_organisation, make_config):
    acme = make_organisation(slug="acme", name="Acme")
    bloom = make_organisation(slug="bloom", name="Bloom")
    return {
        "acme-fake": make_config("monitoring", acme, "fake"),
        "acme-keyed": make_config("monitoring", acme, "keyed", secrets={"api_key": API_KEY}),
        "bloom-fake": make_config("monitoring", bloom, "fake"),
        "bloom-disabled": make_config("monitoring", bloom, "keyed", enabled=False, secrets={"api_key": API_KEY}),
    }


def _sync(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_runs_each_enabled_config_and_prints_its_outcome(configs, monitoring_sync_handler):
    calls = monitoring_sync_handler({"fake": SyncResult(queued=3, delivered=3)})

    out, err = _sync("monitoring")

    assert [(c.organisation.slug, c.provider) for c in calls] == [
        ("acme", "fake"),
        ("acme", "keyed"),
        ("bloom", "fake"),
    ]
    assert "acme · fake: ok: queued 3, delivered 3, failed 0, skipped 0 (cid=" in out
    assert "bloom · fake: ok: queued 3, delivered 3" in out
    assert "3 of 3 configuration(s) synced" in out
    assert err == ""


def test_stopped_configs_are_skipped_and_filters_select(configs, monitoring_sync_handler):
    configs["acme-keyed"].stop("HTTP 403")
    calls = monitoring_sync_handler({})

    _sync("monitoring")
    assert ("acme", "keyed") not in [(c.organisation.slug, c.provider) for c in calls]

    calls.clear()
    _sync("monitoring", "--org", "bloom", "--provider", "fake")
    assert [c.pk for c in calls] == [configs["bloom-fake"].pk]


def test_plain_progress_lines_when_output_is_not_a_terminal(configs, monitoring_sync_handler):
    monitoring_sync_handler({})
    out, _ = _sync("monitoring", "--org", "acme", "--provider", "fake")
    assert "acme · fake: 0/2 starting" in out
    assert "acme · fake: 2/2 sent" in out


def test_a_progress_bar_when_output_is_a_terminal(configs, monitoring_sync_handler):
    monitoring_sync_handler({})
    out = FakeTTY()
    call_command("sync", "monitoring", "--org", "acme", "--provider", "fake", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "2/2" in text and "100%" in text  # tqdm's bar
    assert "acme · fake: 0/2 starting" not in text


def test_a_failure_is_reported_and_the_others_still_run_and_the_exit_is_non_zero(configs, monitoring_sync_handler):
    calls = monitoring_sync_handler(
        {"keyed": PermanentError(f"HTTP 403 from api.datadoghq.com: key {API_KEY} rejected", status=403)}
    )
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 of 3 monitoring sync"):
        call_command("sync", "monitoring", stdout=out, stderr=err)

    assert len(calls) == 3
    assert "acme · keyed: FAILED: HTTP 403 from api.datadoghq.com: key *** rejected" in err.getvalue()
    assert API_KEY not in err.getvalue() + out.getvalue()
    assert "bloom · fake: ok" in out.getvalue()


def test_a_result_with_failures_counts_as_failed(configs, monitoring_sync_handler):
    monitoring_sync_handler({"fake": SyncResult(queued=2, delivered=1, failed=1)})
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync", "monitoring", "--org", "acme", "--provider", "fake", stdout=io.StringIO(), stderr=err)
    assert "acme · fake: FAILED: queued 2, delivered 1, failed 1" in err.getvalue()


def test_a_crashing_handler_is_reported_without_stopping_the_rest(configs, monitoring_sync_handler):
    calls = monitoring_sync_handler({"fake": ZeroDivisionError("bug")})
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 of 3"):
        call_command("sync", "monitoring", stdout=io.StringIO(), stderr=err)
    assert len(calls) == 3
    assert "internal error ZeroDivisionError" in err.getvalue()


def test_unknown_family_org_or_provider_names_the_known_ones(configs, monitoring_sync_handler):
    monitoring_sync_handler({})
    with pytest.raises(CommandError, match=r"unknown family 'nosuch' \(known: .*monitoring"):
        _sync("nosuch")
    with pytest.raises(CommandError, match=r"unknown organisation 'nope' \(known: acme, bloom\)"):
        _sync("monitoring", "--org", "nope")
    with pytest.raises(CommandError, match=r"unknown provider 'nope' for family 'monitoring' \(known: .*fake.*keyed"):
        _sync("monitoring", "--provider", "nope")


def test_a_family_without_a_sync_handler_is_a_clear_error(configs):
    family = get_family("monitoring")
    original, family.sync_handler = family.sync_handler, None
    try:
        with pytest.raises(CommandError, match="family 'monitoring' has no registered sync handler"):
            _sync("monitoring")
    finally:
        family.sync_handler = original


def test_nothing_to_sync_is_not_an_error(fake_provider, monitoring_sync_handler, organisation, make_config):
    make_config("monitoring", organisation, "fake", status=ConfigStatus.STOPPED)
    monitoring_sync_handler({})
    out, _ = _sync("monitoring")
    assert "nothing to sync" in out


def test_configs_of_inactive_organisations_are_not_synced(configs, monitoring_sync_handler):
    calls = monitoring_sync_handler({})
    bloom = configs["bloom-fake"].organisation
    bloom.is_active = False
    bloom.save()
    _sync("monitoring")
    assert {c.organisation.slug for c in calls} == {"acme"}

"""`manage.py check` proves each family is completely wired, naming what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wedsync_integrations.integrations.checks import check_families, family_problems
from wedsync_integrations.integrations.registry import families

ROOT = Path(__file__).resolve().parents[2]


def test_every_family_of_the_project_is_completely_wired():
    assert check_families() == []
    assert {family.name for family in families()} >= {"monitoring", "alerts", "webhooks"}


def test_a_half_wired_family_fails_manage_py_check_naming_each_missing_piece():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.halfwired.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    expected = [
        "family 'halfwired': halfwired.HalfRetryItem is not a RetryItemBase",
        "provider 'mute' has no label",
        "provider 'mute' has no check_health()",
        "provider 'mute' has no deliver()",
        "schedule 'halfwired: nightly' runs unknown task 'halfwired.not_a_task'",
        "schedule 'halfwired: sync' runs the family's sync, but none is registered",
    ]
    for message in expected:
        assert message in output, output


def test_each_problem_is_found_in_process_too(settings):
    from wedsync_integrations.integrations.registry import Family, Provider

    models = {"config": "ghost.Config", "sync_log": "ghost.Log", "audit": "ghost.Audit", "retry": "ghost.Retry"}
    family = Family("ghost", "Ghost", **models)
    messages = [problem.msg for problem in family_problems(family)]
    assert "family 'ghost': its config model 'ghost.Config' is not installed" in messages
    assert "family 'ghost': no provider is registered" in messages

    class Lonely(Provider):
        name, label = "lonely", "Lonely"

    family.register(Lonely)
    assert any("has no deliver()" in message for message in (p.msg for p in family_problems(family)))

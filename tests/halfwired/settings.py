"""The test settings plus the half-wired family (tests/halfwired/apps.py)."""

from wedsync_integrations.test_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.halfwired.apps.HalfWiredConfig"]  # noqa: F405

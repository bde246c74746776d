"""Test settings plus tests.sandbox.sandboxapp, to prove the sandbox autodiscovers `<app>/sandbox.py`."""

from wedsync_integrations.test_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.sandbox.sandboxapp"]  # noqa: F405

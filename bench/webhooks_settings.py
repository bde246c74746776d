"""Settings for the webhooks benchmark: the project's settings plus a bare view to compare against."""

from wedsync_integrations.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhooks_urls"

"""The alerts family's tunables, each overridable in Django settings (ALERTS_<NAME>).

Defaults (documented in the README's Design section):
- ERROR_RATE_THRESHOLDS: an organisation's AI error rate over the last hour raises an alert at
  10 % normally, 5 % in peak season (May–September) and 2 % in the wedding-day window (Friday
  18:00 to Sunday 23:00, London); the lowest applicable threshold wins. Twice the threshold
  makes the alert high instead of medium; below half the threshold an open one auto-resolves.
- ERROR_RATE_MIN_REQUESTS: fewer requests than this in the window never alert (3 failures out
  of 4 requests is noise, not an outage).
- FAILING_DELIVERY_ATTEMPTS: another family's delivery raises a medium alert after this many
  failed attempts in a row (it raises high once it is dead, or when a config is stopped).
- PLATFORM_ORGANISATION: platform-wide alerts are delivered through this organisation's
  channel configurations.
- SMS_MAX_SEGMENTS: alert texts are trimmed to fit this many SMS segments.
- SLACK_RESPONSE_URL_MAX_AGE / _MAX_USES: Slack lets a response_url be used 5 times in 30 min.
- TASK_QUEUE: the Celery queue channel deliveries are published to ("" = the default queue).
  Production should set "alerts" and run a worker on it, so a page never waits behind a long
  monitoring export.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

DEFAULTS = {
    "ERROR_RATE_THRESHOLDS": {"default": 0.10, "peak_season": 0.05, "wedding_day": 0.02},
    "ERROR_RATE_WINDOW": timedelta(hours=1),
    "ERROR_RATE_MIN_REQUESTS": 20,
    "FAILING_DELIVERY_ATTEMPTS": 3,
    "PLATFORM_ORGANISATION": "wedsync",
    "SMS_MAX_SEGMENTS": 2,
    "SLACK_RESPONSE_URL_MAX_AGE": timedelta(minutes=30),
    "SLACK_RESPONSE_URL_MAX_USES": 5,
    "DISPATCH_RETRY_SECONDS": 0.25,
    "DISPATCH_MAX_RETRIES": 40,
    "TASK_QUEUE": "",
}


def get(name: str):
    return getattr(settings, f"ALERTS_{name}", DEFAULTS[name])

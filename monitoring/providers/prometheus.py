"""Prometheus / Grafana: scraped on /metrics/ai (monitoring.views), optionally pushed to a Pushgateway.

Scrape: Prometheus pulls; nothing is sent. The config holds the organisation's scrape
credential (`bearer_token`, also usable as the basic-auth password with the organisation slug
as user name), see monitoring/views.py.

Push (when `pushgateway_url` is set): after each newly finished hour the organisation's metric
set is PUT to `<pushgateway>/metrics/job/wedsync_ai/org/<slug>`: one group per organisation
(grouping key job + org, `@base64`-encoded when a value needs it), PUT so the group is replaced
as a whole, no timestamps in the samples (the gateway rejects them). The outbox item stores the
grouping key, not the samples: a Pushgateway keeps only the latest state, so a retry pushes the
state at the time of the retry rather than an old one.

Pushgateway authentication (docs/vendors/prometheus.md: optional basic auth, for a gateway behind a proxy or
started with --web.config.file): setting `pushgateway_username` and secret `pushgateway_password`,
both or neither. With both, every push and health probe carries `Authorization: Basic
base64(user:password)` (UTF-8, RFC 7617); the password is stored encrypted like every secret and
credentials in the URL itself are refused (they would be stored and exported in clear). A 401/403
from the gateway stops the configuration and keeps the push queued until staff fix the password
and resume. `bearer_token` is unrelated: it protects our own scrape endpoint.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from urllib.parse import quote

from django.db import transaction
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from rest_framework import serializers

from wedsync_integrations.core.tolerant_cache import TolerantCache
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import ConfigurationError
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import (
    DeliveryResult,
    HealthResult,
    OutboundURLField,
    StrictSerializer,
    SyncResult,
)

from ..collector import AIMetricsCollector
from ..exporter import MonitoringProvider, last_finished_hour
from ..family import FAMILY

JOB = "wedsync_ai"
BOTH = "Pushgateway basic auth needs both the user name and the password"
_PLAIN_SEGMENT = re.compile(r"^[A-Za-z0-9_.~-]+$")


def last_scrape_key(organisation_id: int) -> str:
    return f"wsi:monitoring:scraped:{organisation_id}"


# When a tenant last scraped: shown by the health check, never worth failing a scrape over.
last_scrapes = TolerantCache("monitoring.scrape_time_unavailable", "the last scrape time is not kept")


def grouping_path(job: str, labels: dict[str, str]) -> str:
    """/metrics/job/<job>/<label>/<value>…, using <label>@base64/<urlsafe b64> for values that are
    empty or hold characters a path segment cannot carry (Pushgateway README)."""
    segments = ["metrics", *_segment("job", job)]
    for name, value in labels.items():
        segments.extend(_segment(name, value))
    return "/" + "/".join(segments)


def _segment(name: str, value: str) -> list[str]:
    if value and _PLAIN_SEGMENT.match(value):
        return [name, quote(value, safe="")]
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=") or "="
    return [f"{name}@base64", encoded]


class PrometheusSettings(StrictSerializer):
    pushgateway_url = OutboundURLField(required=False, allow_blank=True)
    pushgateway_username = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="basic-auth user for the Pushgateway; needs the secret pushgateway_password",
    )

    def validate_pushgateway_username(self, value: str) -> str:
        # RFC 7617: the user-id ends at the first colon, and control characters cannot be sent
        if ":" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise serializers.ValidationError("must not contain a colon or control characters")
        return value


class PrometheusSecrets(StrictSerializer):
    bearer_token = serializers.CharField(
        min_length=16, max_length=256, trim_whitespace=True, help_text="the organisation's scrape credential"
    )
    pushgateway_password = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1024,
        trim_whitespace=False,  # a password is taken exactly as given
        help_text="basic-auth password for the Pushgateway; needs the setting pushgateway_username",
    )


@FAMILY.register
class Prometheus(MonitoringProvider):
    name = "prometheus"
    label = "Prometheus / Grafana"
    settings_serializer = PrometheusSettings
    secrets_serializer = PrometheusSecrets
    operation = "push"

    @classmethod
    def validate_combination(cls, settings: dict, secrets: dict) -> dict[str, str]:
        user, password = settings.get("pushgateway_username"), secrets.get("pushgateway_password")
        if user and not password:
            return {"secrets.pushgateway_password": f"required when pushgateway_username is set ({BOTH})"}
        if password and not user:
            return {"settings.pushgateway_username": f"required when pushgateway_password is set ({BOTH})"}
        return {}

    def pushgateway_url(self) -> str:
        return self.settings.get("pushgateway_url") or ""

    def pushgateway_headers(self) -> dict[str, str]:
        """Basic auth for the Pushgateway when both halves are configured, else nothing."""
        user, password = self.settings.get("pushgateway_username"), self.secrets.get("pushgateway_password")
        if not (user and password):
            return {}
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def grouping(self) -> dict[str, str]:
        return {"org": self.organisation.slug}

    # -- scheduled run ----------------------------------------------------------------------------
    def sync(self, *, now: datetime, progress=None) -> SyncResult:
        from ..models import MonitoringCursor

        if not self.pushgateway_url():
            return SyncResult(skipped=1, detail={"mode": "scrape only: Prometheus pulls /metrics/ai"})
        result = SyncResult()
        hour = last_finished_hour(now)
        with transaction.atomic():
            cursor, _ = MonitoringCursor.objects.select_for_update().get_or_create(config=self.config)
            if cursor.last_exported_hour is None or cursor.last_exported_hour < hour:
                outbox.enqueue(
                    self.config,
                    operation=self.operation,
                    payload={"job": JOB, "grouping": self.grouping()},
                    dedupe_key=f"monitoring:{self.config.pk}:{hour:%Y%m%dT%H}:push",
                )
                cursor.advance_to(hour)
                result.queued = 1
        counts = outbox.drain_pair(self.family, self.organisation.pk, self.name)
        result.delivered = counts.get(RetryState.SUCCEEDED, 0)
        result.failed = counts.get(RetryState.PENDING, 0) + counts.get(RetryState.DEAD, 0)
        result.detail["last_exported_hour"] = cursor.last_exported_hour
        if progress:
            progress(1, 1, f"prometheus push for {self.organisation.slug}")
        return result

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        url = self.pushgateway_url()
        if not url:
            raise ConfigurationError("prometheus: pushgateway_url is not set, nothing to push to")
        body = generate_latest(AIMetricsCollector([self.organisation.pk]))
        path = grouping_path(payload.get("job", JOB), payload.get("grouping") or self.grouping())
        response = self.client(base_url=url, guarded=True).request(
            "PUT", path, data=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, **self.pushgateway_headers()}
        )
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        return DeliveryResult(items=samples, http_status=response.status_code, detail={"path": path})

    def check_health(self) -> HealthResult:
        self.secret("bearer_token")
        url = self.pushgateway_url()
        scraped = last_scrapes.get(last_scrape_key(self.organisation.pk))
        scrape_note = f"last scraped {scraped:%Y-%m-%d %H:%M:%S}Z" if scraped else "not scraped yet"
        if not url:
            return HealthResult(ok=True, message=f"scrape endpoint ready ({scrape_note})")
        response = self.client(base_url=url, guarded=True).request(
            "GET", "/-/healthy", headers=self.pushgateway_headers()
        )
        return HealthResult(ok=True, message=f"Pushgateway healthy; {scrape_note}", http_status=response.status_code)

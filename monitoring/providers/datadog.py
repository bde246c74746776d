"""Datadog: metrics through POST /api/v2/series, key check through GET /api/v1/validate.

Contract (docs/vendors/datadog.md): host from the organisation's site (or base_url),
header DD-API-KEY, gzip body with Content-Encoding: gzip, success 202 {"errors": [...]}, a
body ≤ 512,000 B compressed and ≤ 5,242,880 B decompressed, points ≤ 1 h old and ≤ 10 min
in the future, type 1 = count (with interval), 3 = gauge; tags lower-case within Datadog's
character rules.

Timestamps: an hour's points are stamped with the hour's last second (hh:59:59). Datadog drops
points older than an hour, so the hour is exportable for about an hour after it ends; later
(a long outage) its points are recorded as stale in the sync log, not sent.

Resends never double-count: Datadog keeps the most recently submitted value per series (name
and tags) and timestamp, counts included (docs.datadoghq.com/metrics/custom_metrics/
historical_metrics; the intake's last-write-wins on counters is also what Vector's Datadog sink
found, vectordotdev/vector#13867). For the regular intake this is observed, not in the API
reference (docs/vendors/datadog.md, "Errors, retries and idempotency"); with it, a retry
after a lost 202 and the restatement of an hour after late usage replace the hour's points.

Batches: each stored payload is a ready {"series": [...]} body of at most 500,000 bytes of
JSON (sizes are computed, not guessed). Even incompressible, gzip cannot make that exceed
512,000 bytes, and it is far below the decompressed limit, so both limits hold by
construction; a 413 anyway (a limit lowered by Datadog) halves the batch and resends the
halves, keeping only the unsent part for a retry.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from datetime import datetime, timedelta
from typing import ClassVar

from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.batching import pack, send_in_parts
from wedsync_integrations.integrations.errors import PayloadTooLarge, PermanentError
from wedsync_integrations.integrations.registry import BaseSettings, DeliveryResult, HealthResult, StrictSerializer

from ..exporter import IntervalExporter, record_skip
from ..family import FAMILY
from ..metrics import Interval, Kind

# Site label -> API host (docs/vendors/datadog.md, "Sites"). Aliases accept what people type in.
SITES = {
    "US1": "https://api.datadoghq.com",
    "US3": "https://api.us3.datadoghq.com",
    "US5": "https://api.us5.datadoghq.com",
    "EU1": "https://api.datadoghq.eu",
    "AP1": "https://api.ap1.datadoghq.com",
    "AP2": "https://api.ap2.datadoghq.com",
    "UK1": "https://api.uk1.datadoghq.com",
    "US1-FED": "https://api.ddog-gov.com",
    "US2-FED": "https://api.us2.ddog-gov.com",
}
SITE_ALIASES = {
    "EU": "EU1",
    "US": "US1",
    "DATADOGHQ.COM": "US1",
    "APP.DATADOGHQ.COM": "US1",
    "US3.DATADOGHQ.COM": "US3",
    "US5.DATADOGHQ.COM": "US5",
    "DATADOGHQ.EU": "EU1",
    "APP.DATADOGHQ.EU": "EU1",
    "AP1.DATADOGHQ.COM": "AP1",
    "AP2.DATADOGHQ.COM": "AP2",
    "UK1.DATADOGHQ.COM": "UK1",
    "DDOG-GOV.COM": "US1-FED",
    "APP.DDOG-GOV.COM": "US1-FED",
    "US2.DDOG-GOV.COM": "US2-FED",
}

MAX_COMPRESSED_BYTES = 512_000
MAX_DECOMPRESSED_BYTES = 5_242_880
# JSON bytes per body: below MAX_COMPRESSED_BYTES even for incompressible data (gzip adds ~5
# bytes per 16 KiB block plus an 18-byte frame), so no body can breach either limit.
BATCH_BUDGET_BYTES = 500_000
TYPE_CODES = {Kind.COUNT: 1, Kind.GAUGE: 3}
HOUR_SECONDS = 3600
# gzip's fast levels compress our repetitive JSON as well as level 6 at a third of the CPU
GZIP_LEVEL = 1

_TAG_INVALID = re.compile(r"[^a-z0-9_\-:./]")
_REPEATED_UNDERSCORE = re.compile(r"__+")


def site_label(value: str) -> str:
    key = (value or "US1").strip().upper()
    key = SITE_ALIASES.get(key, key)
    if key not in SITES:
        raise serializers.ValidationError(
            f"unknown Datadog site {value!r}; use one of {', '.join(SITES)} (or the site's domain)"
        )
    return key


@functools.lru_cache(maxsize=65536)  # the same few thousand tags come up hour after hour
def tag(key: str, value: object) -> str:
    """A Datadog tag: lower-case, only letters, digits and _ - : . /, starting with a letter,
    no trailing or doubled underscores, at most 200 characters (docs/vendors/datadog.md, "Names and tags")."""
    text = _REPEATED_UNDERSCORE.sub("_", _TAG_INVALID.sub("_", f"{key}:{value}".lower()))
    text = text.rstrip("_")[:200].rstrip("_")
    return text if text[:1].isalpha() else "t" + text[:199]


class DatadogSettings(BaseSettings):
    site = serializers.CharField(required=False, default="US1", help_text=", ".join(SITES))

    def validate_site(self, value):
        return site_label(value)


class DatadogSecrets(StrictSerializer):
    api_key = serializers.CharField(min_length=16, max_length=128, trim_whitespace=True)


@FAMILY.register
class Datadog(IntervalExporter):
    name = "datadog"
    label = "Datadog"
    settings_serializer = DatadogSettings
    secrets_serializer = DatadogSecrets
    max_point_age: ClassVar[timedelta] = timedelta(hours=1)

    def base_url(self) -> str:
        return self.settings.get("base_url") or SITES[site_label(self.settings.get("site", "US1"))]

    def point_time(self, hour: datetime) -> datetime:
        return hour + timedelta(seconds=HOUR_SECONDS - 1)

    # -- payloads ---------------------------------------------------------------------------------
    def build_payloads(self, parts: list[Interval]) -> list[dict]:
        sized = [pair for part in parts for pair in self.series_of(part)]
        batches = pack(sized, size_of=_size_of_pair, budget=BATCH_BUDGET_BYTES - 13)  # 13: {"series":[…]}
        return [{"series": [entry for entry, _ in batch]} for batch in batches]

    def series_of(self, interval: Interval) -> list[tuple[dict, int]]:
        """The interval's series, each with the exact length of its compact JSON, counted without
        serialising: the fixed keys and punctuation, plus names and tags (ASCII by construction)
        and the measured numbers. A test holds it to json.dumps."""
        at = self.point_time(interval.hour) if interval.hour else interval.at
        timestamp = int(at.timestamp())
        common = [tag(key, value) for key, value in interval.common.items()]
        fixed = 67 + len(str(timestamp))
        # the samples of one rollup row share one tags dict: build its tag list once
        tag_lists: dict[int, tuple[list[str], int]] = {}
        series = []
        for sample in interval.samples:
            tags, tags_size = tag_lists.get(id(sample.tags)) or tag_lists.setdefault(
                id(sample.tags), _tag_list(common, sample.tags)
            )
            metric = sample.metric
            entry = {
                "metric": metric.name,
                "type": TYPE_CODES[metric.kind],
                "points": [{"timestamp": timestamp, "value": sample.value}],
                "tags": tags,
            }
            size = fixed + len(metric.name) + _number_size(sample.value) + tags_size
            if metric.kind is Kind.COUNT:
                entry["interval"] = HOUR_SECONDS
                size += 16
            if metric.unit:
                entry["unit"] = metric.unit
                size += 10 + len(metric.unit)
            series.append((entry, size))
        return series

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        now = timezone.now()
        oldest = (now - self.max_point_age).timestamp()
        newest = (now + self.max_point_future).timestamp()
        series, stale = [], []
        for entry in payload.get("series", []):
            accepted = oldest <= entry["points"][0]["timestamp"] <= newest
            (series if accepted else stale).append(entry)
        if stale:
            record_skip(
                self,
                f"{len(stale)} series too old for Datadog by the time they could be sent (points up to 1 h old)",
                {"stale_series": len(stale), "metrics": sorted({s["metric"] for s in stale}), "reason": "too_old"},
                now,
            )
        if not series:
            return DeliveryResult(items=0, http_status=None, detail={"stale_series": len(stale)})
        client = self.client()
        key = self.secret("api_key")
        try:
            responses = [self._post(client, key, series)]  # the usual case: one request
        except PayloadTooLarge:
            responses = send_in_parts(
                series,
                send=lambda part: self._post(client, key, part),
                payload_of=lambda part: {"series": part},
                whole_too_large=True,
            )
        vendor_errors = [error for body in responses for error in body.get("errors", [])]
        detail = {"series": len(series), "requests": len(responses), "stale_series": len(stale)}
        if vendor_errors:
            detail["vendor_errors"] = vendor_errors[:20]
        return DeliveryResult(items=len(series), http_status=202, detail=detail)

    def _post(self, client, key: str, series: list[dict]) -> dict:
        raw = json.dumps({"series": series}, separators=(",", ":")).encode()
        body = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)
        if len(raw) > MAX_DECOMPRESSED_BYTES or len(body) > MAX_COMPRESSED_BYTES:
            raise PayloadTooLarge(f"datadog: batch of {len(series)} series is {len(body)} B gzipped, over the limit")
        response = client.request(
            "POST",
            "/api/v2/series",
            data=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip", "DD-API-KEY": key},
        )
        try:
            return response.json() if response.content else {}
        except ValueError:
            return {}

    def check_health(self) -> HealthResult:
        response = self.client().request("GET", "/api/v1/validate", headers={"DD-API-KEY": self.secret("api_key")})
        try:
            valid = response.json().get("valid") is True
        except ValueError:
            valid = False
        if not valid:
            raise PermanentError("datadog: /api/v1/validate did not confirm the key", status=response.status_code)
        return HealthResult(ok=True, message=f"API key valid ({self.base_url()})", http_status=response.status_code)


def _tag_list(common: list[str], tags: dict) -> tuple[list[str], int]:
    names = common + [tag(key, value) for key, value in tags.items()]
    return names, sum(len(name) + 3 for name in names) - (1 if names else 0)


def _number_size(value) -> int:
    # json.dumps writes ints with str() and finite floats with repr(); our values are finite
    return len(repr(value)) if isinstance(value, float) else len(str(value))


def _size_of_pair(pair: tuple[dict, int]) -> int:
    return pair[1]

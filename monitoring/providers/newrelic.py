"""New Relic: the Metric API (POST /metric/v1), US or EU data centre.

Contract (docs/vendors/newrelic.md): header Api-Key (licence key), Content-Type
application/json, Content-Encoding: GZIP, body a JSON array of blocks with a `common` block
(timestamp, attributes) and `metrics`; counts carry `interval.ms`; success 202
{"requestId": ...}; ≤ 10^6 bytes per POST (we keep the *uncompressed* body under it, the safe
reading of the docs), ≤ 100 attributes per metric, names ≤ 255 and values ≤ 4,096 characters,
timestamps within 48 h in the past.

An hour's block is stamped with the hour's start (New Relic's `timestamp` is the start of the
window); counts and summaries cover the hour (`interval.ms` 3,600,000). Response time goes out
as a `summary` (count, sum, min, max of the hour's requests), so New Relic's average() weighs
every request across series and hours, which a mean sent as a gauge cannot; p50, p95 and max
stay gauges. A rollup from before the minimum was kept (none once the migration backfilled
them) sends its mean as a gauge rather than an invented minimum.

Health check: New Relic has no endpoint that validates a licence key, so "test connection"
POSTs one gauge point (`wedsync.integration.health_check` = 1, tagged with the organisation)
and requires 202 (docs/vendors/newrelic.md, "Health check"). It writes that one data point to the account.
"""

from __future__ import annotations

import functools
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.batching import send_in_parts
from wedsync_integrations.integrations.errors import PayloadTooLarge, PermanentError
from wedsync_integrations.integrations.registry import BaseSettings, DeliveryResult, HealthResult, StrictSerializer

from ..exporter import IntervalExporter, record_skip
from ..family import FAMILY
from ..metrics import Interval, Kind, Sample

ENDPOINTS = {"US": "https://metric-api.newrelic.com", "EU": "https://metric-api.eu.newrelic.com"}
PATH = "/metric/v1"
MAX_BODY_BYTES = 1_000_000
BATCH_BUDGET_BYTES = MAX_BODY_BYTES - 1_000  # room for the array brackets and block framing
MAX_ATTRIBUTES = 100
MAX_NAME_CHARS = 255
MAX_VALUE_CHARS = 4096
HOUR_MS = 3_600_000
ADDITIVE = ("count", "summary")  # types whose points New Relic adds up within a window
GZIP_LEVEL = 1  # fast levels compress our repetitive JSON about as well as level 6, at a third of the CPU


class NewRelicSettings(BaseSettings):
    region = serializers.ChoiceField(
        choices=["US", "EU"], required=False, help_text="data centre; default: EU for an 'eu…' licence key, else US"
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("region"), str):
            data = {**data, "region": data["region"].strip().upper()}
        return super().to_internal_value(data)


class NewRelicSecrets(StrictSerializer):
    license_key = serializers.CharField(min_length=16, max_length=128, trim_whitespace=True)


def attributes(*groups: dict[str, object]) -> dict[str, object]:
    """Merge attribute maps within New Relic's limits: names ≤ 255, string values ≤ 4,096
    characters, at most 100 per metric (earlier groups win, so common tags are kept)."""
    merged: dict[str, object] = {}
    for group in groups:
        for key, value in group.items():
            if len(merged) >= MAX_ATTRIBUTES:
                return merged
            name = str(key)[:MAX_NAME_CHARS]
            if name not in merged:
                merged[name] = value[:MAX_VALUE_CHARS] if isinstance(value, str) else value
    return merged


@FAMILY.register
class NewRelic(IntervalExporter):
    name = "newrelic"
    label = "New Relic"
    settings_serializer = NewRelicSettings
    secrets_serializer = NewRelicSecrets
    max_point_age: ClassVar[timedelta] = timedelta(hours=48)

    def region(self) -> str:
        explicit = self.settings.get("region")
        if explicit:
            return explicit
        return "EU" if str(self.secrets.get("license_key", "")).lower().startswith("eu") else "US"

    def base_url(self) -> str:
        return self.settings.get("base_url") or ENDPOINTS[self.region()]

    # -- payloads ---------------------------------------------------------------------------------
    def build_payloads(self, parts: list[Interval]) -> list[list[dict]]:
        built = [self.block_of(part) for part in parts if part.samples]
        return split_blocks([block for block, _ in built], BATCH_BUDGET_BYTES, sizes=[sizes for _, sizes in built])

    def block_of(self, interval: Interval) -> tuple[dict, list[int]]:
        """The interval's block and the exact serialised size of each of its metrics."""
        at = interval.hour or interval.at
        metrics, sizes = [], []
        shared: dict[int, tuple[dict, int]] = {}  # the samples of one rollup row share one tags dict
        for sample in interval.samples:
            metric = metric_of(sample)
            value_size = _value_size(metric["value"])
            size = _skeleton_size(metric["name"], metric["type"], "interval.ms" in metric) + value_size
            if sample.tags:
                key = id(sample.tags)
                if key not in shared:
                    merged = attributes(sample.tags)
                    shared[key] = (merged, len(',"attributes":') + json_size(merged))
                metric["attributes"], extra = shared[key]
                size += extra
            metrics.append(metric)
            sizes.append(size)
        common = {"timestamp": int(at.timestamp() * 1000), "attributes": attributes(interval.common)}
        return {"common": common, "metrics": metrics}, sizes

    def restatement_payloads(self, interval: Interval, previous: list) -> list[list[dict]]:
        """New Relic adds up count and summary points of a window, so a late correction sends only
        what the hour gained since `previous` (every payload queued for the hour: delivered, still
        owed by a pending item, or owed to a replay of a dead one; the exporter gathers them);
        a gauge already sent is not re-sent (a second point in the same window would be averaged with
        the first, not replace it), but one never sent for the window goes out now (a GBP figure
        withheld while its usage waited for an exchange rate)."""
        start = int(interval.hour.timestamp() * 1000)
        sent: dict[tuple, object] = {}
        gauges_sent: set[tuple] = set()
        for metric in (m for body in previous for b in body if b["common"]["timestamp"] == start for m in b["metrics"]):
            key = _series_key(metric)
            if metric["type"] in ADDITIVE:
                sent[key] = _add(sent.get(key), metric["value"])
            else:
                gauges_sent.add(key)
        block, _ = self.block_of(interval)
        corrections = []
        for metric in block["metrics"]:
            key = _series_key(metric)
            if metric["type"] not in ADDITIVE:
                if key not in gauges_sent:
                    corrections.append(metric)
            elif (correction := _gain(metric, sent.get(key))) is not None:
                corrections.append(correction)
        if not corrections:
            return []
        return split_blocks([{"common": block["common"], "metrics": corrections}], BATCH_BUDGET_BYTES)

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, operation: str, payload: list) -> DeliveryResult:
        now = timezone.now()
        fresh, stale = [], []
        for block in payload:
            at = datetime.fromtimestamp(block["common"]["timestamp"] / 1000, tz=UTC)
            (fresh if self.accepts(at, now) else stale).append(block)
        if stale:
            points = sum(len(block["metrics"]) for block in stale)
            record_skip(
                self,
                f"{points} metric point(s) too old for New Relic by the time they could be sent (48 h)",
                {"stale_points": points, "reason": "too_old"},
                now,
            )
        points = sum(len(block["metrics"]) for block in fresh)
        if not points:
            return DeliveryResult(items=0, detail={"stale_blocks": len(stale)})
        client = self.client()
        key = self.secret("license_key")
        try:
            replies = [self._post(client, key, fresh)]  # the usual case: the stored body as it is
        except PayloadTooLarge:
            # New Relic wants smaller bodies: split by metric (each part keeps its common block)
            elements = [(index, metric) for index, block in enumerate(fresh) for metric in block["metrics"]]

            def regroup(part):
                return _regroup(fresh, part)

            replies = send_in_parts(
                elements,
                send=lambda part: self._post(client, key, regroup(part)),
                payload_of=regroup,
                whole_too_large=True,
            )
        detail = {"points": points, "requests": len(replies), "request_ids": replies[:20]}
        return DeliveryResult(items=points, http_status=202, detail=detail)

    def _post(self, client, key: str, body: list[dict]) -> str:
        raw = json.dumps(body, separators=(",", ":")).encode()
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"newrelic: body of {len(raw)} B is over New Relic's 10^6 B limit")
        response = client.request(
            "POST",
            PATH,
            data=gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0),
            headers={"Content-Type": "application/json", "Content-Encoding": "GZIP", "Api-Key": key},
        )
        if response.status_code != 202:
            raise PermanentError(f"newrelic: expected 202 Accepted, got {response.status_code}")
        try:
            return str(response.json().get("requestId", ""))
        except ValueError:
            return ""

    def check_health(self) -> HealthResult:
        now = timezone.now()
        body = [
            {
                "common": {"timestamp": int(now.timestamp() * 1000), "attributes": {"service": "ai_architecture"}},
                "metrics": [
                    {
                        "name": "wedsync.integration.health_check",
                        "type": "gauge",
                        "value": 1,
                        "attributes": {"org": self.organisation.slug},
                    }
                ],
            }
        ]
        request_id = self._post(self.client(), self.secret("license_key"), body)
        return HealthResult(
            ok=True,
            message=f"licence key accepted by the {self.region()} Metric API (one health-check point written)",
            http_status=202,
            detail={"request_id": request_id},
        )


def metric_of(sample: Sample) -> dict:
    """A sample as a Metric API metric (key order as _skeleton_size measures it)."""
    name = sample.metric.name
    if sample.summary is not None:
        count, total, fastest, slowest = sample.summary
        value = {"count": count, "sum": total, "min": fastest, "max": slowest}
        return {"name": name, "type": "summary", "value": value, "interval.ms": HOUR_MS}
    if sample.metric.kind is Kind.COUNT:
        return {"name": name, "type": "count", "value": sample.value, "interval.ms": HOUR_MS}
    return {"name": name, "type": "gauge", "value": sample.value}


def _add(total, value):
    """Running total of what was sent for one count or summary series."""
    if isinstance(value, dict):
        total = total or {"count": 0, "sum": 0}
        return {"count": total["count"] + value["count"], "sum": total["sum"] + value["sum"]}
    return (total or 0) + value


def _gain(metric: dict, sent) -> dict | None:
    """The point that brings New Relic's total for this series from `sent` to `metric`, or None.

    A summary's min and max go out as they are now: New Relic keeps the smallest min and the
    largest max of a window, and late requests only ever lower the one and raise the other."""
    value = metric["value"]
    if isinstance(value, dict):
        count = value["count"] - (sent["count"] if sent else 0)
        if count <= 0:
            return None
        total = round(value["sum"] - (sent["sum"] if sent else 0), 9)
        return {**metric, "value": {**value, "count": count, "sum": total}}
    delta = round(value - (sent or 0), 9)
    if not delta:
        return None
    return {**metric, "value": int(delta) if float(delta).is_integer() else delta}


def _series_key(metric: dict) -> tuple:
    return metric["name"], tuple(sorted((metric.get("attributes") or {}).items()))


def _regroup(blocks: list[dict], elements: list[tuple[int, dict]]) -> list[dict]:
    """Rebuild a body from (block index, metric) pairs, keeping each block's common part."""
    body: list[dict] = []
    current = None
    for index, metric in elements:
        if index != current:
            body.append({"common": blocks[index]["common"], "metrics": []})
            current = index
        body[-1]["metrics"].append(metric)
    return body


def json_size(value) -> int:
    return len(json.dumps(value, separators=(",", ":")))


@functools.lru_cache(maxsize=65536)
def _string_size(text: str) -> int:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))


@functools.lru_cache(maxsize=1024)
def _skeleton_size(name: str, kind: str, counted: bool) -> int:
    """Serialised size of a metric without its value digits and attributes."""
    metric = {"name": name, "type": kind, "value": 0}
    if counted:
        metric["interval.ms"] = HOUR_MS
    return json_size(metric) - 1


def _value_size(value) -> int:
    """Length of the compact JSON of a value, cheaply for the usual numbers and strings."""
    if isinstance(value, str):
        return _string_size(value)
    if isinstance(value, float):
        return len(repr(value))  # json.dumps writes finite floats with repr(); metric values are finite
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(value))
    return json_size(value)


def metric_size(metric: dict) -> int:
    """Exact length of json_size(metric), without serialising the whole metric each time."""
    size = 1 + sum(_string_size(key) + 1 + _value_size(value) for key, value in metric.items() if key != "attributes")
    attributes = metric.get("attributes")
    if attributes is not None:
        size += (
            _string_size("attributes") + 3 + sum(_string_size(k) + 1 + _value_size(v) for k, v in attributes.items())
        )
        size += max(0, len(attributes) - 1)
    return size + len(metric) - 1 + 1


def split_blocks(blocks: list[dict], budget: int, sizes: list[list[int]] | None = None) -> list[list[dict]]:
    """Bodies (lists of blocks) whose serialised size stays within budget, splitting a block's
    metrics across bodies when needed (each part keeps the block's common). `sizes` may give
    each metric's serialised size when the caller already knows it."""
    bodies: list[list[dict]] = []
    body: list[dict] = []
    used = 2  # []
    for index, block in enumerate(blocks):
        frame = json_size({"common": block["common"], "metrics": []}) + 1  # + the comma between blocks
        known = sizes[index] if sizes is not None else None
        part = None
        for position, metric in enumerate(block["metrics"]):
            size = (known[position] if known is not None else metric_size(metric)) + 1
            starts_part = part is None
            if (starts_part and body and used + frame + size > budget) or (not starts_part and used + size > budget):
                bodies.append(body)
                body, used, starts_part = [], 2, True
            if starts_part:
                part = {"common": block["common"], "metrics": []}
                body.append(part)
                used += frame
            part["metrics"].append(metric)
            used += size
    if body:
        bodies.append(body)
    return bodies

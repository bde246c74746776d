"""Typed at the edge: turn one wire record of `POST /api/v1/usage/` into clean Python values.

This is deliberately a small table of field parsers rather than a DRF serializer per record: a
batch holds up to 1,000 records and per-record serializers cost more than the database insert.
The DRF serializers in serializers.py describe the same fields for the OpenAPI schema, and a test
keeps the two in step.

Every problem is reported per field in DRF's shape ({"field": ["message"]}) so the AI platform
can fix and resend exactly the records that were rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .models import Outcome

MAX_POSITIVE_INT = 2**31 - 1  # PositiveIntegerField's range on every backend
MONEY_PLACES = Decimal("0.000001")  # the model keeps money to 6 decimal places (micro-dollars)
MONEY_INTEGER_DIGITS = 8  # max_digits 14 - 6 decimal places
MONEY_LIMIT = Decimal(10) ** MONEY_INTEGER_DIGITS  # the first amount the money columns cannot hold
# No AI request happened before this. The floor also keeps every time we store far from the ends
# of Python's calendar (years 1 and 9999), where converting to UTC or to the London date, or
# stepping an hour, raises OverflowError instead of giving a date.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
ERROR_MESSAGE_LENGTH = 500
_MONEY = re.compile(r"^\d+(?:\.\d+)?$")
# NUL cannot be stored in a PostgreSQL text column and lone surrogates cannot be encoded as
# UTF-8: either would fail the whole batch's INSERT, so they are rejected per record here.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class FieldError(ValueError):
    """A field's value is unusable; the message is shown to the client as is."""


def printable(name: str) -> str:
    """A client-sent name as it can appear in a JSON reply: a lone surrogate (valid in JSON text,
    not encodable as UTF-8) is written as its escape instead of failing the whole reply."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name


def _string(max_length: int, *, truncate: bool = False) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise FieldError("Must be a string.")
        if _UNSTORABLE.search(value):
            raise FieldError("Contains a NUL character or invalid Unicode.")
        if len(value) > max_length:
            if truncate:
                return value[:max_length]
            raise FieldError(f"At most {max_length} characters (got {len(value)}).")
        return value

    return parse


def _required_string(max_length: int) -> Callable[[object], str]:
    as_string = _string(max_length)

    def parse(value: object) -> str:
        value = as_string(value)
        if not value.strip():
            raise FieldError("Must not be blank.")
        return value

    return parse


def _count(value: object) -> int:
    # bool is an int in Python but `true` is never a token count or a latency
    if type(value) is not int:
        raise FieldError("Must be a whole number.")
    if value < 0:
        raise FieldError("Must not be negative.")
    if value > MAX_POSITIVE_INT:
        raise FieldError(f"At most {MAX_POSITIVE_INT}.")
    return value


def _money(value: object) -> Decimal:
    """Money travels as a decimal string: a JSON number would already have lost precision."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise FieldError('Send money as a decimal string such as "0.0041", not a number.')
    if not _MONEY.match(value):
        raise FieldError('Not a non-negative decimal amount such as "0.0041".')
    amount = Decimal(value)
    if amount >= MONEY_LIMIT:  # checked before rounding too: quantize cannot hold huge amounts
        raise FieldError(TOO_MUCH_MONEY)
    # Per-token prices give costs with more than 6 places; micro-dollar rounding is far below
    # the penny every report rounds to, and rounding once here keeps the stored figure exact.
    rounded = amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)
    if not fits_money_column(rounded):  # 99999999.9999999 rounds up to 10^8
        raise FieldError(TOO_MUCH_MONEY)
    return rounded


TOO_MUCH_MONEY = f"Too large: at most {MONEY_INTEGER_DIGITS} digits before the decimal point."


def fits_money_column(amount: Decimal) -> bool:
    """Whether an amount already rounded to MONEY_PLACES fits the money columns (14 digits, 6 places)."""
    return amount < MONEY_LIMIT


def _aware_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise FieldError('Must be an ISO 8601 string such as "2026-06-13T14:05:00Z".')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError('Not an ISO 8601 date-time such as "2026-06-13T14:05:00Z".')
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise FieldError('Needs a UTC offset or "Z": a time without one is ambiguous.')
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T05:00:00+14:00 is in year 0 in UTC, 9999-12-31T23:00:00-14:00 in 10000
        raise FieldError("Outside the calendar (years 1 to 9999) once converted to UTC.")
    if in_utc < EARLIEST_OCCURRED_AT:
        raise FieldError(_TOO_EARLY)
    return in_utc


_TOO_EARLY = f"Is before {EARLIEST_OCCURRED_AT:%Y-%m-%d}: not a time an AI request can have happened."


def _date(value: object) -> date:
    if not isinstance(value, str):
        raise FieldError('Must be a date string such as "2026-06-13".')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError('Not a date such as "2026-06-13".')


def _outcome(value: object) -> str:
    if value not in Outcome.values:
        raise FieldError(f"Must be one of: {', '.join(Outcome.values)}.")
    return value


def _quality_score(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError("Must be a number between 0 and 1.")
    # Compared before any conversion: float() of a 400-digit integer raises OverflowError, and
    # NaN or infinity fail the comparison anyway.
    if not 0 <= value <= 1:
        raise FieldError("Must be between 0 and 1.")
    return float(value)


@dataclass(frozen=True)
class WireField:
    name: str
    parse: Callable[[object], object]
    required: bool = False
    default: object = None


# The wire format the AI platform relies on. Optional fields may be omitted or null.
WIRE_FIELDS: dict[str, WireField] = {
    f.name: f
    for f in (
        WireField("request_id", _required_string(128), required=True),
        WireField("occurred_at", _aware_datetime, required=True),
        WireField("feature", _required_string(64), required=True),
        WireField("provider", _required_string(32), required=True),
        WireField("model", _required_string(64), required=True),
        WireField("latency_ms", _count, required=True),
        WireField("cost_usd", _money, required=True),
        WireField("outcome", _outcome, required=True),
        WireField("prompt_tokens", _count, default=0),
        WireField("completion_tokens", _count, default=0),
        WireField("total_tokens", _count),
        WireField("error_type", _string(64), default=""),
        WireField("error_message", _string(ERROR_MESSAGE_LENGTH, truncate=True), default=""),
        WireField("quality_score", _quality_score),
        WireField("wedding_date", _date),
        WireField("venue_region", _string(64), default=""),
        WireField("vendor_type", _string(32), default=""),
        WireField("user_ref", _string(64), default=""),
    )
}
REQUIRED_FIELDS = tuple(name for name, spec in WIRE_FIELDS.items() if spec.required)
_OPTIONAL_DEFAULTS = {name: spec.default for name, spec in WIRE_FIELDS.items() if not spec.required}


class RecordInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def clean_record(record: object, *, now: datetime, max_future: timedelta) -> dict:
    """Validate one wire record; return its clean values or raise RecordInvalid with every problem."""
    if not isinstance(record, dict):
        raise RecordInvalid({"non_field_errors": ["Each record must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    clean = dict(_OPTIONAL_DEFAULTS)
    for name, value in record.items():
        spec = WIRE_FIELDS.get(name)
        if spec is None:
            # Strict on purpose: a misspelt "completion_token" would otherwise be silently lost.
            errors[printable(name)] = ["Unknown field."]
        elif value is None:
            if spec.required:
                errors[name] = ["This field is required."]
        else:
            try:
                clean[name] = spec.parse(value)
            except FieldError as exc:
                errors[name] = [str(exc)]
    for name in REQUIRED_FIELDS:
        if name not in record:
            errors[name] = ["This field is required."]
    if not errors:
        _check_consistency(clean, errors, now=now, max_future=max_future)
    if errors:
        raise RecordInvalid(errors)
    return clean


def _check_consistency(clean: dict, errors: dict[str, list[str]], *, now: datetime, max_future: timedelta) -> None:
    if clean["occurred_at"] > now + max_future:
        errors["occurred_at"] = [
            f"Is in the future (more than {int(max_future.total_seconds())} seconds ahead of the server clock)."
        ]
    total = clean.pop("total_tokens")
    if total is not None and total != clean["prompt_tokens"] + clean["completion_tokens"]:
        errors["total_tokens"] = ["Must equal prompt_tokens + completion_tokens."]
    if clean["outcome"] == Outcome.OK and (clean["error_type"] or clean["error_message"]):
        errors["outcome"] = ['A request with an error type or message must have outcome "error".']

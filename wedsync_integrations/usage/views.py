"""`POST /api/v1/usage/`: the AI platform sends batches of usage records here.

The order of checks is chosen so the cheapest rejection comes first and nothing is read that
will not be used: the declared size (no body read, no database), the token (one indexed
lookup), the content type, the body read with a hard cap, the JSON envelope, then the records.
"""

from __future__ import annotations

import json

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from wedsync_integrations.tenants.models import Organisation

from .ingest import ingest_batch
from .serializers import ErrorSerializer, IngestReplySerializer, UsageBatchSerializer
from .tokens import organisation_for_token
from .validation import printable

ENVELOPE_KEYS = {"records"}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "Send a Content-Length header (chunked request bodies are not accepted)."
    default_code = "length_required"


class UsageTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`, the token being the organisation's usage token."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed('Malformed Authorization header: expected "Bearer <token>".')
        organisation = organisation_for_token(raw.strip())
        if organisation is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked usage token.")
        return (None, organisation)

    def authenticate_header(self, request):
        return 'Bearer realm="wedsync-usage"'


class UsageTokenScheme(OpenApiAuthenticationExtension):
    target_class = UsageTokenAuthentication
    name = "usageToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


class HasActiveOrganisation(BasePermission):
    message = "This organisation is deactivated; its usage is not accepted."

    def has_permission(self, request, view):
        organisation = request.auth
        if not isinstance(organisation, Organisation):
            raise exceptions.NotAuthenticated("Send the organisation's usage token as 'Authorization: Bearer <token>'.")
        return organisation.is_active


_EXAMPLE_REQUEST = {
    "records": [
        {
            "request_id": "r-1",
            "occurred_at": "2026-06-13T14:05:00Z",
            "feature": "email_template",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "prompt_tokens": 812,
            "completion_tokens": 240,
            "latency_ms": 930,
            "cost_usd": "0.0041",
            "outcome": "ok",
            "error_type": None,
            "quality_score": 0.92,
            "wedding_date": "2026-06-13",
            "venue_region": "South West",
            "vendor_type": "photographer",
        }
    ]
}


class UsageIngestView(APIView):
    authentication_classes = [UsageTokenAuthentication]
    permission_classes = [HasActiveOrganisation]
    parser_classes = [JSONParser]  # documents the media type; the body is parsed below, capped

    def initial(self, request, *args, **kwargs):
        # Refuse an oversized body on its declared size, before authenticating or reading it.
        _declared_length(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="usage_ingest",
        summary="Ingest a batch of AI-usage records",
        description=(
            "Stores up to 1,000 records per request, idempotently on `request_id` (per organisation): "
            "a resent record counts as a duplicate and stores nothing. Valid records are stored even when "
            "others in the batch are rejected; each rejection gives the record's index and per-field errors. "
            "GBP cost is computed from the USD→GBP rate of the record's Europe/London date."
        ),
        tags=["usage"],
        request=UsageBatchSerializer,
        examples=[OpenApiExample("One record", value=_EXAMPLE_REQUEST, request_only=True)],
        responses={
            200: IngestReplySerializer,
            400: OpenApiResponse(ErrorSerializer, description="Malformed JSON or envelope."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, unknown or revoked token."),
            403: OpenApiResponse(ErrorSerializer, description="The organisation is deactivated."),
            411: OpenApiResponse(ErrorSerializer, description="No Content-Length."),
            413: OpenApiResponse(ErrorSerializer, description="Body over the size limit or over 1,000 records."),
            415: OpenApiResponse(ErrorSerializer, description="Not application/json."),
        },
    )
    def post(self, request):
        if request.content_type.split(";")[0].strip().lower() != "application/json":
            raise exceptions.UnsupportedMediaType(request.content_type or "(none)")
        records = _parse_envelope(_read_body(request))
        result = ingest_batch(request.auth, records)
        return Response(result.as_reply(), status=status.HTTP_200_OK)


def _max_body() -> int:
    return settings.USAGE_MAX_BODY_BYTES


def _declared_length(request) -> int:
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        raise LengthRequired()
    try:
        length = int(raw)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.")
    if length > _max_body():
        raise PayloadTooLarge(
            f"Request body is {length} bytes; the limit is {_max_body()} bytes. Send smaller batches."
        )
    return length


def _read_body(request) -> bytes:
    # Read at most one byte past the limit: a body longer than it declared cannot slip through.
    body = request._request.read(_max_body() + 1)
    if len(body) > _max_body():
        raise PayloadTooLarge(f"Request body exceeds the limit of {_max_body()} bytes. Send smaller batches.")
    return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_envelope(body: bytes) -> list:
    if not body:
        raise exceptions.ParseError('Empty body: send {"records": [...]}.')
    try:
        envelope = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("records"), list):
        raise exceptions.ParseError('Expected a JSON object {"records": [...]} with "records" a list.')
    unknown = sorted(printable(key) for key in set(envelope) - ENVELOPE_KEYS)
    if unknown:
        raise exceptions.ParseError(f"Unknown key(s) in the envelope: {', '.join(unknown)}.")
    records = envelope["records"]
    if len(records) > settings.USAGE_MAX_BATCH:
        raise PayloadTooLarge(
            f"{len(records)} records in one batch; at most {settings.USAGE_MAX_BATCH} are accepted. "
            "Split the batch; nothing from this one was stored."
        )
    return records

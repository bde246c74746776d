"""The one inbound endpoint for every external system (DRF, documented with drf-spectacular).

    POST /api/webhooks/ai-integrations/<source>/            platform-wide (slack)
    POST /api/webhooks/ai-integrations/<source>/<org-slug>/ one organisation's subscription

No DRF authentication, parsing or throttling runs: the vendor's signature *is* the
authentication, and it must be checked over the raw body before anything parses it
(webhooks.intake does the work, in the order the issue sets).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from . import intake
from .family import FAMILY

_error = inline_serializer(
    "WebhookError", fields={"error": serializers.CharField(), "detail": serializers.CharField(required=False)}
)
_accepted = inline_serializer(
    "WebhookAccepted",
    fields={
        "status": serializers.CharField(),
        "received": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
    },
)
_too_large = inline_serializer(
    "WebhookTooLarge", fields={"error": serializers.CharField(), "limit_bytes": serializers.IntegerField()}
)

_COMMON = {
    "request": {
        "application/json": OpenApiTypes.OBJECT,
        "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
    },
    "responses": {
        200: OpenApiResponse(_accepted, description="Verified and stored (Slack, Xero, Twilio reply as they require)"),
        202: OpenApiResponse(description="Verified and stored (PagerDuty), empty body"),
        400: OpenApiResponse(_error, description="Verified, but the body is malformed"),
        401: OpenApiResponse(_error, description="Signature, timestamp or token missing or wrong"),
        404: OpenApiResponse(_error, description="Unknown source or organisation (not said which)"),
        411: OpenApiResponse(_error, description="Chunked body on a server that cannot read one; send Content-Length"),
        413: OpenApiResponse(_too_large, description="Body over WEBHOOK_MAX_BODY_BYTES (1 MB)"),
        429: OpenApiResponse(_error, description="Rate limit for this source and organisation; see Retry-After"),
    },
    "description": (
        "Authenticated by the source's own scheme, over the raw body: the signature headers below;"
        " Datadog and New Relic send `Authorization: Bearer <shared secret>` (or a header the"
        " organisation names); Tave's subscription URL carries `?token=`."
    ),
    "auth": [],
    "tags": ["webhooks"],
}

_SOURCE = OpenApiParameter("source", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(FAMILY.providers))


# OpenAPI ignores header parameters with these names (3.0 §4.7.12.1); the operation's text says them
_RESERVED_HEADERS = frozenset({"accept", "authorization", "content-type"})


def _signature_headers() -> list[OpenApiParameter]:
    """The headers every registered source's scheme reads, so a new source documents its own."""
    documented: dict[str, str] = {}
    for source_cls in FAMILY.providers.values():
        documented.update(source_cls.scheme.headers)
    return [
        OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, description=description)
        for name, description in documented.items()
        if name.lower() not in _RESERVED_HEADERS
    ]


_HEADERS = _signature_headers()


class _InboundWebhookBase(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes: list = []  # never parsed by DRF: the raw body is verified first
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type  # vendors do not negotiate: JSON or empty

    def dispatch(self, request, *args, **kwargs):
        # A vendor's POST goes straight to the pipeline with Django's request: the signature is
        # the authentication (checked over the raw body), nothing is parsed by DRF, and DRF's
        # request wrapping, empty authentication/permission/throttle passes and response
        # finalising would only add cost to the endpoint's hot path. Other methods (405,
        # OPTIONS) get DRF's usual handling; the schema comes from the post() methods below.
        if request.method == "POST":
            return intake.receive(request, kwargs["source"], kwargs.get("org_slug"))
        return super().dispatch(request, *args, **kwargs)


class PlatformWebhookView(_InboundWebhookBase):
    @extend_schema(
        operation_id="webhook_platform_receive",
        summary="Receive a platform-wide webhook (Slack app at the global path)",
        parameters=[_SOURCE, *_HEADERS],
        **_COMMON,
    )
    def post(self, request, source: str):
        return intake.receive(request._request, source)  # reached only if dispatch is bypassed


class OrganisationWebhookView(_InboundWebhookBase):
    @extend_schema(
        operation_id="webhook_organisation_receive",
        summary="Receive a webhook for one organisation, verified with its own secret",
        parameters=[
            _SOURCE,
            OpenApiParameter("org_slug", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[-a-zA-Z0-9_]+$"),
            OpenApiParameter(
                "token", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, description="Tave: URL token"
            ),
            *_HEADERS,
        ],
        **_COMMON,
    )
    def post(self, request, source: str, org_slug: str):
        return intake.receive(request._request, source, org_slug)  # reached only if dispatch is bypassed

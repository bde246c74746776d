"""FreshBooks webhook callbacks (expense.create, invoice.create, …) and their verification flow.

Registration: the accounting side POSTs /events/account/{account_id}/events/callbacks with this
endpoint's URL; FreshBooks immediately POSTs a form with a verification code (fields, from
FreshBooks' examples: name, object_id = the callback id, verifier; the exact set is unverified).
That code must be PUT back to FreshBooks to activate the callback, and it is also the HMAC secret
of every later delivery. The handshake cannot be signed, so it is accepted only when it was
expected: this organisation has no FreshBooks secret yet AND settings.pending_callback_id (the
callbackid FreshBooks returned to whoever registered the callback) equals the posted object_id.
Then the endpoint adopts the code as its signing_secret (encrypted, audited, never stored in the
event) and records a "callback.verify" event (callback id only) for the accounting family, which
PUTs the code back. Anything else is refused (401): someone who knows the URL cannot plant a
secret of their choosing, nor swap an existing one (staff clear it in admin to re-register).

Deliveries: form fields name, object_id, account_id, business_id, identity_id, user_id, signed by
FreshBooksSignature (base64 HMAC-SHA256 of json.dumps of the fields, not the raw body).
Event type: "name" (e.g. "expense.create"). Dedupe: name + object_id (FreshBooks sends no event id
or timestamp, so a second identical notification for the same object is treated as a repeat).

Vendor facts: docs/vendors/inbound-signatures.md ("FreshBooks").
"""

from __future__ import annotations

from rest_framework import serializers

from wedsync_integrations.integrations.signing import same

from ..family import FAMILY
from ..models import RejectReason
from ..verification import FreshBooksSignature, Malformed, Rejected, unique_form_pairs
from .base import (
    InboundSettings,
    InboundSource,
    Parsed,
    ParsedEvent,
    SigningSecrets,
    checked_event_type,
    form_dict,
    require_str,
)

VERIFY_EVENT = "callback.verify"


class FreshBooksSettings(InboundSettings):
    account_id = serializers.RegexField(
        r"^[A-Za-z0-9]{1,32}$", required=False, help_text="This organisation's FreshBooks account_id."
    )
    pending_callback_id = serializers.RegexField(
        r"^\d{1,20}$", required=False, help_text="The callbackid just registered, whose verification code we expect."
    )


class FreshBooksSecrets(SigningSecrets):
    # Normally filled in by the verification handshake, so not required up front.
    signing_secret = serializers.CharField(min_length=8, max_length=512, required=False, allow_blank=True)


def _is_verification(request) -> bool:
    try:
        return any(name == "verifier" for name, _ in request.form_pairs)
    except Malformed:
        return False  # not a form at all: the signature check refuses it (401), unparsed


@FAMILY.register
class FreshBooks(InboundSource):
    name = "freshbooks"
    dispatch = "sweeper"  # minutes are fine: published by the beat sweeper
    label = "FreshBooks"
    scheme = FreshBooksSignature()
    settings_serializer = FreshBooksSettings
    secrets_serializer = FreshBooksSecrets
    account_setting = "account_id"
    requires_secret = False

    @classmethod
    def authenticate(cls, request, secrets, settings) -> None:
        if _is_verification(request):
            # unsigned by design, so no MAC refuses a repeated object_id or verifier: refused here
            unique_form_pairs(request, FreshBooksSignature.header)
            if secrets:
                raise Rejected(
                    RejectReason.VERIFICATION_REFUSED,
                    "this callback is already verified; staff must clear the stored verifier to re-register",
                )
            expected = settings.get("pending_callback_id")
            posted = next((value for name, value in request.form_pairs if name == "object_id"), None)
            if not expected or posted is None or not same(posted, expected):
                raise Rejected(RejectReason.VERIFICATION_REFUSED, "no verification is expected for this callback")
            return  # the code itself becomes the secret (see parse)
        super().authenticate(request, secrets, settings)

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        fields = form_dict(request.form_pairs)
        if _is_verification(request):
            verifier = require_str(fields, "verifier")
            callback_id = require_str(fields, "object_id", "object_id (the callback id)")
            safe = {key: value for key, value in fields.items() if key != "verifier"}
            return Parsed(
                [ParsedEvent(VERIFY_EVENT, f"{VERIFY_EVENT}:{callback_id}", safe, str(fields.get("account_id", "")))],
                adopt_secret=verifier,
            )
        name = checked_event_type(require_str(fields, "name"))
        object_id = require_str(fields, "object_id")
        return Parsed([ParsedEvent(name, f"{name}:{object_id}", fields, str(fields.get("account_id", "")))])

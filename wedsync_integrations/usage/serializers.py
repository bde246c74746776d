"""The ingest API's request and reply shapes, for the OpenAPI schema (/api/schema/).

Records are validated at runtime by validation.WIRE_FIELDS (lean, per batch); these serializers
document the same contract, and tests/usage/test_schema.py fails if the two drift apart.
"""

from rest_framework import serializers

from .models import Outcome
from .validation import ERROR_MESSAGE_LENGTH


class UsageRecordSerializer(serializers.Serializer):
    request_id = serializers.CharField(max_length=128, help_text="The platform's id; unique per organisation.")
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601 with a UTC offset or Z; not before 2000, at most 5 minutes ahead of the server clock."
    )
    feature = serializers.CharField(max_length=64, help_text="Use case, e.g. email_template.")
    provider = serializers.CharField(max_length=32, help_text="AI provider, e.g. openai.")
    model = serializers.CharField(max_length=64)
    latency_ms = serializers.IntegerField(min_value=0)
    cost_usd = serializers.RegexField(
        r"^\d+(\.\d+)?$",
        help_text='Decimal string, e.g. "0.0041" (numbers are rejected); rounded half-up to 6 places, '
        "then under 100,000,000.",
    )
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    prompt_tokens = serializers.IntegerField(min_value=0, required=False, default=0)
    completion_tokens = serializers.IntegerField(min_value=0, required=False, default=0)
    total_tokens = serializers.IntegerField(
        min_value=0, required=False, allow_null=True, help_text="If sent, must equal prompt + completion."
    )
    error_type = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    error_message = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=f"Stored up to its first {ERROR_MESSAGE_LENGTH} characters.",
    )
    quality_score = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    wedding_date = serializers.DateField(
        required=False, allow_null=True, help_text="Links the record to the organisation's wedding that day."
    )
    venue_region = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    vendor_type = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    user_ref = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)


class UsageBatchSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=UsageRecordSerializer(), max_length=1000, help_text="At most 1,000 records per batch."
    )


class RejectedRecordSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the record in the batch, from 0.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per field."
    )


class IngestReplySerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Records stored by this request.")
    duplicates = serializers.IntegerField(help_text="Records already stored, or repeated within the batch.")
    rejected = RejectedRecordSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()

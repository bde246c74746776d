"""Abstract integration models; every family app makes them concrete with a one-line subclass.

    class MonitoringConfig(ProviderConfigBase): family_name = "monitoring"
    class MonitoringSyncLog(SyncLogBase): pass
    class MonitoringAuditEntry(AuditEntryBase): pass
    class MonitoringRetryItem(RetryItemBase): pass

Each family therefore owns its tables (and its admin pages), while all behaviour lives here.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone

from wedsync_integrations.core.observability import get_correlation_id

from .secrets import EncryptedJSONField
from .states import ConfigStatus, CredentialStatus, RetryState, SyncOutcome


class ProviderConfigBase(models.Model):
    """One organisation's configuration of one vendor: settings in clear, secrets encrypted."""

    family_name: ClassVar[str] = ""

    organisation = models.ForeignKey(
        "tenants.Organisation", on_delete=models.CASCADE, related_name="%(app_label)s_configs"
    )
    provider = models.CharField(max_length=40)
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField()
    status = models.CharField(max_length=16, choices=ConfigStatus.choices, default=ConfigStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What the vendor issued to us (OAuth tokens, a sign-in session), apart from what staff type
    # in `secrets`: renewed by the service itself (credentials.py), encrypted like secrets,
    # never rendered, logged or exported. Only the facts below are shown.
    credential = EncryptedJSONField()
    credential_status = models.CharField(
        max_length=16, choices=CredentialStatus.choices, default=CredentialStatus.NONE, blank=True
    )
    credential_expires_at = models.DateTimeField(null=True, blank=True, help_text="when the access token expires")
    credential_refreshed_at = models.DateTimeField(null=True, blank=True, help_text="when it was last renewed")
    connected_account = models.CharField(
        max_length=200, blank=True, help_text="the vendor account this configuration is connected to (ledger name)"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["organisation__name", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "provider"], name="%(app_label)s_%(class)s_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.provider}"

    # -- the provider behind this row ---------------------------------------------------------
    @classmethod
    def family(cls):
        from .registry import get_family

        return get_family(cls.family_name)

    def provider_class(self):
        return self.family().provider(self.provider)

    def get_provider(self):
        return self.provider_class()(self)

    def clean(self):
        from .registry import UnknownProvider, validate_config_data

        try:
            provider_cls = self.provider_class()
        except UnknownProvider as exc:
            raise ValidationError({"provider": str(exc)})
        errors = validate_config_data(provider_cls, self.settings, self.secrets, partial_secrets=False)
        if errors:
            # Keyed by real model fields, so any ModelForm can place them ("settings.site" is not
            # a field and made a form raise ValueError); the message keeps the path.
            by_field: dict[str, list[str]] = {}
            for key, message in sorted(errors.items()):
                target = "settings" if key.startswith("settings") else NON_FIELD_ERRORS
                by_field.setdefault(target, []).append(f"{key}: {message}")
            raise ValidationError(by_field)

    # -- status transitions (small UPDATEs, safe from concurrent workers) -----------------------
    @property
    def is_usable(self) -> bool:
        return self.enabled and self.status != ConfigStatus.STOPPED

    def mark_success(self, at=None) -> None:
        at = at or timezone.now()
        updates = {"last_success_at": at}
        if self.status == ConfigStatus.FAILING:
            updates.update(status=ConfigStatus.ACTIVE, status_reason="")
        self._update(**updates)

    def mark_failure(self, message: str, at=None) -> None:
        at = at or timezone.now()
        updates = {"last_error_at": at, "last_error": message[:2000]}
        if self.status == ConfigStatus.ACTIVE:
            updates["status"] = ConfigStatus.FAILING
        self._update(**updates)

    def stop(self, reason: str, at=None) -> None:
        """Stop using this config until staff fix it (bad key, revoked access, unsafe URL)."""
        self._update(
            status=ConfigStatus.STOPPED,
            status_reason=reason[:2000],
            last_error=reason[:2000],
            last_error_at=at or timezone.now(),
        )

    def resume(self) -> None:
        self._update(status=ConfigStatus.ACTIVE, status_reason="")

    def _update(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        fields["updated_at"] = timezone.now()
        type(self).objects.filter(pk=self.pk).update(**fields)


class SyncLogBase(models.Model):
    """One attempt to talk to a vendor: when, what, how it went. Written for every attempt."""

    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(max_length=40)
    operation = models.CharField(max_length=64)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=SyncOutcome.choices)
    items = models.PositiveIntegerField(default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id, db_index=True)

    class Meta:
        abstract = True
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["organisation", "provider", "-started_at"], name="%(app_label)s_synclog_recent")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.operation} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M:%S}"


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk edits are refused too: `.update()` and `.delete()` would bypass save()/delete()."""

    def update(self, **kwargs):
        raise ValidationError("audit entries are append-only")

    def delete(self):
        raise ValidationError("audit entries are append-only")


class AuditEntryBase(models.Model):
    """Append-only: who changed what, when, from where. Never holds a secret value."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="e.g. admin:alice, slack:U123, pagerduty, system")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    summary = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValidationError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("audit entries are append-only")


class RetryItemBase(models.Model):
    """The durable outbox / failed-export queue.

    The row is written before the first send, holding exactly what to send (never a secret:
    credentials are added at send time). A worker claims it with a lease, sends, and records
    the outcome; a worker that dies mid-send leaves the lease to expire and the item is retried.
    Items of one (organisation, provider) are delivered in id order.
    """

    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(max_length=40)
    operation = models.CharField(max_length=64)
    payload = models.JSONField()
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    state = models.CharField(max_length=16, choices=RetryState.choices, default=RetryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=10)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id)

    class Meta:
        abstract = True
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="%(app_label)s_retry_due"),
            models.Index(fields=["organisation", "provider", "state", "id"], name="%(app_label)s_retry_order"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.provider} {self.operation} ({self.state}, {self.attempts} attempts)"

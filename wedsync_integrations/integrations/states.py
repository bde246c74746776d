"""The kernel's status vocabulary, apart from the models so any module can use it without
importing them (credentials.py, for one, is imported by the registry the models use)."""

from django.db import models


class ConfigStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FAILING = "failing", "Failing (retrying)"
    STOPPED = "stopped", "Stopped: needs attention"


class CredentialStatus(models.TextChoices):
    """The vendor-issued credential of a config (see credentials.py); NONE for static API keys."""

    NONE = "", "—"
    CONNECTED = "connected", "Connected"
    RECONNECT = "reconnect", "Reconnect needed"


class SyncOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed permanently"
    SKIPPED = "skipped", "Skipped"


class RetryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead"

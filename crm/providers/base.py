"""What every CRM vendor module builds on.

A CRM provider turns the one ValueReport (value.py) into the payload its vendor takes, stored in
the outbox without any secret, and sends that payload (the key or hook URL is added at send
time). Building and sending are separate, as in django-anymail: `report_payload()` is pure and is
what the admin preview shows; `deliver()` only sends what was stored.

Operations in the outbox:
    report        the monthly value report          (every CRM)
    wedding_note  a wedding's AI help, on its job    (vendors with jobs: Tave)
    link_job      re-read a job a webhook named      (vendors with REST hooks: Tave)
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework import serializers

from wedsync_integrations.calendar import Month
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.registry import DeliveryResult, Provider

from ..render import WeddingHelp
from ..value import ValueReport

REPORT, WEDDING_NOTE, LINK_JOB = "report", "wedding_note", "link_job"


class MonthField(serializers.CharField):
    """A month written YYYY-MM (the first month whose report a CRM receives)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "first month to report, YYYY-MM (default: the month before the configuration was created)",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return str(Month.parse(text))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class CRMProvider(Provider):
    """A CRM the monthly value reports go to."""

    # Said plainly in admin and the docs: what this vendor really allows us to do.
    allows: ClassVar[str] = ""
    # Whether the vendor has jobs a wedding's note can be attached to.
    wedding_notes: ClassVar[bool] = False

    def first_month(self) -> Month:
        """The first month reported: the `first_month` setting, else the month before the
        configuration was created (a studio connecting in July gets June's report, then each
        month's)."""
        if self.settings.get("first_month"):
            return Month.parse(self.settings["first_month"])
        created = self.config.created_at
        return Month.containing(created).previous if created else Month.containing().previous

    # -- payloads (pure: the admin preview shows them) ----------------------------------------------------
    def report_payload(self, report: ValueReport) -> dict:
        raise NotImplementedError

    def wedding_payload(self, help_: WeddingHelp, job_id: str, wedding_date: str) -> dict:
        raise NotImplementedError(f"{self.name} has no jobs to attach a wedding's note to")

    # -- sending ------------------------------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        handler = {REPORT: self.send_report, WEDDING_NOTE: self.send_wedding_note, LINK_JOB: self.link_job}.get(
            operation
        )
        if handler is None:
            raise PermanentError(f"{self.name}: unknown operation {operation!r}")
        return handler(payload)

    def send_report(self, payload: dict) -> DeliveryResult:
        raise NotImplementedError

    def send_wedding_note(self, payload: dict) -> DeliveryResult:
        raise PermanentError(f"{self.name}: has no jobs to attach a wedding's note to")

    def link_job(self, payload: dict) -> DeliveryResult:
        raise PermanentError(f"{self.name}: has no jobs to read")

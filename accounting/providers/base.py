"""What the three ledgers share: the configuration every accounting provider takes, the ledger
mappings (supplier, expense account, tax code) read from the ledger, and delivery of one document
with the vendor's idempotency — or, where it has none or its window has passed, a look-up before
creating again, so a retry never posts a second document.

A vendor module implements (payload building is separate from sending, as in django-anymail):

    ledger_choices()                 live choices for staff: {"vendor_id": [(id, label), …], …}
    ledger_mappings(treatment)       the ids a document needs, chosen by staff or matched in the ledger
    build_payload(document, maps)    the request body (pure: no I/O)
    lookup_hints(document, maps)     what find() needs to recognise the document later
    create(payload) -> VendorDocument    send it (with the idempotency key where there is one)
    find(payload) -> VendorDocument | None   look for it after an interrupted attempt
    read_back(export) -> VendorDocument  what the ledger holds now (nightly reconciliation)
    taxable_turnover(first, last)    income in the profit-and-loss report (VAT threshold watch), or None
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import serializers

from wedsync_integrations.integrations.errors import ConfigurationError, PermanentError
from wedsync_integrations.integrations.ratelimit import RateLimit
from wedsync_integrations.integrations.registry import (
    BaseSettings,
    DeliveryResult,
    OutboundURLField,
    Provider,
    StrictSerializer,
)

from ..documents import Document
from ..models import ExportState, MonthlyExport, Treatment
from ..months import Month
from ..vat import SUPPLIES, WEDSYNC, treatment_for

logger = logging.getLogger("wedsync.accounting")

Choice = tuple[str, str]


class MappingMissing(ConfigurationError):
    """A document needs a ledger record (supplier, account, tax code) nobody chose and the ledger
    has none matching: staff choose one under "Ledger mappings", then resume."""


# -- configuration -----------------------------------------------------------------------------------------
def validate_month(value: str) -> str:
    try:
        return Month.parse(value).label
    except ValueError as exc:
        raise serializers.ValidationError(str(exc))


class AccountingSettings(BaseSettings):
    """Settings every ledger takes (keys as issue 10 names them)."""

    token_url = OutboundURLField(required=False, help_text="the vendor's token endpoint (sandbox)")
    authorize_url = OutboundURLField(required=False, help_text="the vendor's consent page (sandbox)")
    vat_registered = serializers.BooleanField(
        required=False, help_text="whether the organisation is VAT registered (default: the organisation's flag)"
    )
    supply = serializers.ChoiceField(
        choices=list(SUPPLIES.items()), required=False, help_text="who supplies the AI usage (default wedsync)"
    )
    first_month = serializers.CharField(
        required=False,
        help_text="the first month to export, YYYY-MM (default: the month before the configuration was created)",
    )

    def validate_first_month(self, value):
        return validate_month(value)


class AccountingSecrets(StrictSerializer):
    client_id = serializers.CharField(max_length=200)
    client_secret = serializers.CharField(max_length=200)
    refresh_token = serializers.CharField(
        required=False, allow_blank=True, help_text="normally set by 'Connect'; a headless set-up may give one"
    )


def document_field(choices: dict[str, str], default: str) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(choices.items()), required=False, help_text=f"default {default}")


# -- what a vendor holds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VendorDocument:
    """A document as the ledger holds it."""

    entity_type: str
    entity_id: str
    sync_token: str = ""
    status: str = ""
    amount: Decimal | None = None  # the lines' total (net, or gross where no VAT is recorded)
    tax: Decimal | None = None
    total: Decimal | None = None
    gone: bool = False  # deleted or voided

    def as_json(self) -> dict:
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "sync_token": self.sync_token,
            "status": self.status,
            "amount": None if self.amount is None else str(self.amount),
            "tax": None if self.tax is None else str(self.tax),
            "total": None if self.total is None else str(self.total),
            "gone": self.gone,
        }


def json_number(amount: Decimal) -> float:
    """A two-decimal amount as the JSON number vendors expect (QuickBooks, Xero). Exact: a float's
    shortest repr gives back the same two decimals for any amount under 10^13."""
    value = float(amount)
    if Decimal(repr(value)) != amount:
        raise ValueError(f"{amount} cannot travel as a JSON number exactly")
    return value


def decimal_or_none(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def idempotency_key(provider: str, export_id: int, body: dict) -> str:
    """Deterministic per export and payload (≤ 50 characters, QuickBooks' requestid limit): every
    retry of the same payload sends the same key; a rebuilt payload would get a new one."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    return f"wsi-{provider}-{export_id}-{digest}"


def pick_by_name(choices: list[Choice], name: str) -> str | None:
    """The one choice whose label is `name` (case and surrounding spaces ignored)."""
    wanted = name.strip().casefold()
    found = [value for value, label in choices if label.strip().casefold() == wanted]
    return found[0] if len(found) == 1 else None


# -- the provider --------------------------------------------------------------------------------------------
class AccountingProvider(Provider):
    documents: ClassVar[dict[str, str]] = {}  # setting `document` -> what is created
    default_document: ClassVar[str] = ""
    tenant_setting: ClassVar[str] = ""  # realm_id / tenant_id / account_id
    mapping_labels: ClassVar[dict[str, str]] = {}  # setting -> what staff choose
    # document -> (the setting it cannot go without, why): e.g. a QuickBooks purchase, its account
    document_needs: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def validate_combination(cls, settings_: dict, secrets: dict) -> dict[str, str]:
        needed = cls.document_needs.get(settings_.get("document") or cls.default_document)
        if needed and not settings_.get(needed[0]):
            return {f"settings.{needed[0]}": needed[1]}
        return {}

    # -- configuration ---------------------------------------------------------------------------------------
    def first_month(self) -> Month:
        """The first month exported: the `first_month` setting, else the month before the
        configuration was created (as the CRMs do: a studio connecting in July starts with June)."""
        if self.settings.get("first_month"):
            return Month.parse(self.settings["first_month"])
        created = getattr(self.config, "created_at", None)
        return Month.of(created or timezone.now()).previous()

    def vat_registered(self) -> bool:
        value = self.settings.get("vat_registered")
        return bool(self.organisation.vat_registered) if value is None else bool(value)

    def supply(self) -> str:
        return self.settings.get("supply") or WEDSYNC

    def treatment(self) -> Treatment:
        return treatment_for(vat_registered=self.vat_registered(), supply=self.supply())

    def document_kind(self) -> str:
        return self.settings.get("document") or self.default_document

    def tenant(self) -> str:
        tenant = self.settings.get(self.tenant_setting)
        if not tenant:
            raise ConfigurationError(
                f"{self.label}: not connected to a ledger yet (no {self.tenant_setting}); press "
                f"'Connect to {self.label}' on the configuration page"
            )
        return str(tenant)

    def rate_limits(self) -> tuple[RateLimit, ...]:
        return ()

    def client(self, **kwargs):
        """The kernel's client, spending the tenant's shared rate-limit budget on every call."""
        if kwargs.get("authenticated", True) and "rate_limits" not in kwargs and self.settings.get(self.tenant_setting):
            kwargs["rate_limits"] = self.rate_limits()
        return super().client(**kwargs)

    # -- ledger mappings ---------------------------------------------------------------------------------------
    def cached_ledger_choices(self, *, refresh: bool = False) -> dict[str, list[Choice]]:
        key = f"wsi:accounting:choices:{self.config.pk}:{self.settings.get(self.tenant_setting, '')}"
        choices = None if refresh else cache.get(key)
        if choices is None:
            choices = self.ledger_choices()
            cache.set(key, choices, timeout=settings.ACCOUNTING_LEDGER_CHOICES_CACHE_SECONDS)
        return choices

    def live_choices(self, *, refresh: bool = False) -> dict[str, list[Choice]]:
        """Admin's configuration form offers the same records as "Ledger mappings" (one cached read)."""
        return self.cached_ledger_choices(refresh=refresh)

    def chosen_or_matched(self, setting: str, choices: list[Choice], name: str, what: str) -> str:
        """Staff's choice if made (and still in the ledger), else the one record named `name`."""
        chosen = self.settings.get(setting)
        if chosen not in (None, ""):
            if choices and str(chosen) not in {value for value, _ in choices}:
                raise MappingMissing(
                    f"{self.label}: the {what} chosen ({setting} {chosen}) is not an active record of the ledger "
                    "any more; choose another under 'Ledger mappings'"
                )
            return str(chosen)
        matched = pick_by_name(choices, name) if name else None
        if matched is None:
            raise MappingMissing(
                f"{self.label}: no {what} chosen, and the ledger has no single active one named {name!r}; "
                "choose one under 'Ledger mappings' on the configuration page"
            )
        return matched

    # -- delivery (the outbox calls this) --------------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        """Send one document. The outbox item holds the vendor-neutral document; its first attempt
        reads the ledger mappings (supplier, account, VAT code) and freezes the vendor payload and
        its idempotency key on the export, so every retry sends exactly the same request."""
        export = MonthlyExport.objects.filter(pk=payload.get("export")).first()
        if export is None:
            raise PermanentError(f"{self.label}: the export record of this item no longer exists")
        if export.vendor_entity_id:  # created already (recorded by an earlier attempt or a look-up)
            return self._delivered(export, None)
        now = timezone.now()
        if export.first_attempt_at is not None and self._look_first(export, now):
            found = self.find(export.document)
            if found is not None:
                logger.warning(
                    "accounting.found_existing provider=%s export=%s entity=%s: not created again",
                    self.name, export.pk, found.entity_id,
                )  # fmt: skip
                return self._delivered(export, found, found_existing=True)
        if not export.document:
            self.freeze(export, Document.from_json(payload["document"]), now)
        elif export.first_attempt_at is None:
            MonthlyExport.objects.filter(pk=export.pk, first_attempt_at__isnull=True).update(first_attempt_at=now)
        created = self.create(export.document)
        return self._delivered(export, created)

    def frozen_request(self, document: Document, mappings: dict) -> dict:
        """What is sent for `document`: the body, its idempotency key, how to find it again."""
        body = self.build_payload(document, mappings)
        return {
            "body": body,
            "idempotency_key": idempotency_key(self.name, document.export_id, body),
            "lookup": self.lookup_hints(document, mappings),
            "mappings": mappings,
        }

    def freeze(self, export: MonthlyExport, document: Document, now) -> None:
        request = self.frozen_request(document, self.ledger_mappings(document.treatment))
        MonthlyExport.objects.filter(pk=export.pk, first_attempt_at__isnull=True).update(
            document=request, first_attempt_at=now
        )
        export.refresh_from_db()

    def idempotency_window(self) -> timedelta | None:
        """How long the vendor answers a repeated idempotency key with the first answer. After an
        earlier attempt, a retry later than this looks the document up before creating it again;
        None (no key, or a window nobody documents): always look first."""
        return None

    def _look_first(self, export: MonthlyExport, now) -> bool:
        window = self.idempotency_window()
        return window is None or now - export.first_attempt_at >= window

    def _delivered(self, export: MonthlyExport, document: VendorDocument | None, *, found_existing=False):
        if document is not None:
            fields = {
                "vendor_entity_type": document.entity_type,
                "vendor_entity_id": document.entity_id,
                "vendor_sync_token": document.sync_token,
                "sent_at": timezone.now(),
            }
            MonthlyExport.objects.filter(pk=export.pk).update(**fields)
            reason = "found in the ledger after an interrupted attempt: not created again" if found_existing else ""
            unsent = [ExportState.QUEUED, ExportState.FAILED]
            MonthlyExport.objects.filter(pk=export.pk, state__in=unsent).update(
                state=ExportState.SENT, state_reason=reason
            )
            export.refresh_from_db()
        detail = {
            "entity_type": export.vendor_entity_type,
            "entity_id": export.vendor_entity_id,
            "sync_token": export.vendor_sync_token,
            "reference": export.reference,
            "found_existing": found_existing,
        }
        return DeliveryResult(items=len(export.lines), http_status=200, detail=detail)

    # -- the contract a vendor module implements ----------------------------------------------------------------
    def ledger_choices(self) -> dict[str, list[Choice]]:
        raise NotImplementedError

    def ledger_mappings(self, treatment: Treatment) -> dict:
        raise NotImplementedError

    def build_payload(self, document, mappings: dict) -> dict:
        raise NotImplementedError

    def lookup_hints(self, document, mappings: dict) -> dict:
        return {}

    def amount_sent(self, document) -> Decimal:
        """The document's total as the ledger will hold it (compared by the reconciliation)."""
        return document.totals.amount

    def create(self, payload: dict) -> VendorDocument:
        raise NotImplementedError

    def find(self, payload: dict) -> VendorDocument | None:
        raise NotImplementedError

    def read_back(self, export: MonthlyExport) -> VendorDocument:
        raise NotImplementedError

    def taxable_turnover(self, first: date, last: date) -> Decimal | None:
        return None

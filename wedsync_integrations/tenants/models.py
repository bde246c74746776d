"""Tenants: the wedding businesses (organisations) WedSync serves, and their weddings."""

import re
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

# HMRC VAT numbers: GB + 9 digits, GB + 12 digits (branch traders), GBGD/GBHA + 3 digits.
UK_VAT_NUMBER = re.compile(r"^GB(\d{9}|\d{12}|GD\d{3}|HA\d{3})$")


class VendorType(models.TextChoices):
    PHOTOGRAPHER = "photographer", "Photographer"
    VIDEOGRAPHER = "videographer", "Videographer"
    VENUE = "venue", "Venue"
    PLANNER = "planner", "Planner"
    FLORIST = "florist", "Florist"
    CATERER = "caterer", "Caterer"
    MUSICIAN = "musician", "Band / DJ"
    STYLIST = "stylist", "Hair & make-up"
    OTHER = "other", "Other"


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone")


class Organisation(models.Model):
    """A tenant. Its value parameters default to the product's figures and are per organisation."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    vendor_type = models.CharField(max_length=32, choices=VendorType.choices, default=VendorType.OTHER)
    country = models.CharField(
        max_length=2, default="GB", validators=[RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2 code")]
    )
    currency = models.CharField(
        max_length=3, default="GBP", validators=[RegexValidator(r"^[A-Z]{3}$", "ISO 4217 code")]
    )
    timezone = models.CharField(max_length=64, default="Europe/London", validators=[validate_timezone])
    vat_registered = models.BooleanField(default=False)
    vat_number = models.CharField(max_length=14, blank=True)
    # value parameters (product defaults: 15 min, £2.50 per request, 4x, 15 %)
    minutes_saved_per_request = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("15"), validators=[MinValueValidator(0)]
    )
    value_per_request_gbp = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("2.50"), validators=[MinValueValidator(0)]
    )
    revenue_multiplier = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("4"), validators=[MinValueValidator(0)]
    )
    retention_uplift_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("15"), validators=[MinValueValidator(0)]
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        self.vat_number = self.vat_number.replace(" ", "").upper()
        if self.vat_registered and not self.vat_number:
            raise ValidationError({"vat_number": "A VAT-registered organisation needs its VAT number."})
        if self.vat_number and self.country == "GB" and not UK_VAT_NUMBER.match(self.vat_number):
            raise ValidationError({"vat_number": "Not a UK VAT number (GB followed by 9 or 12 digits)."})


class Wedding(models.Model):
    """A wedding an organisation works on: alerts count them, metrics count weddings assisted."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="weddings")
    date = models.DateField()
    venue = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date"]
        indexes = [models.Index(fields=["organisation", "date"]), models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.date:%Y-%m-%d} · {self.venue or 'venue tbc'}"

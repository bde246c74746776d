"""UK VAT on the documents, to the penny (docs/vendors/uk-vat.md).

Rules, from HMRC VAT Notice 700 (rounding) and the treatments table in docs/vendors/uk-vat.md:
- The treatment follows the organisation: VAT registered and supplied by WedSync AI Services (a UK
  VAT-registered supplier charging 20 %) -> standard-rated input VAT; registered and billed
  directly by an overseas AI provider -> reverse charge (the organisation self-accounts a notional
  20 % in Boxes 1 and 4; nothing is payable to the supplier); not registered -> no VAT code, and
  the expense is what the organisation pays (gross: net plus any VAT the supplier charged).
- VAT is worked out per line on the line's net, rounded half-up to the penny (≥ 0.5p up); the
  document's VAT is the sum of its lines (three lines of £0.83 -> 3 × £0.17 = £0.51), never 20 %
  of the document total; each line's gross is its net plus its VAT. Xero computes tax the same way.
- Line nets come from unrounded costs by the largest-remainder method: each line is its cost
  rounded down to the penny, and the pennies still missing to reach the total rounded half-up go
  to the lines with the largest remainders. So every line is within a penny of its cost and the
  lines add up exactly to the month's cost rounded to the penny: the document reconciles to the
  penny with the usage records, and the ledger's own sum of the lines agrees with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from .models import Treatment

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")

WEDSYNC = "wedsync"
OVERSEAS_PROVIDER = "overseas_provider"
SUPPLIES = {
    WEDSYNC: "WedSync AI Services (UK VAT-registered supplier charging 20 %)",
    OVERSEAS_PROVIDER: "the AI provider bills the organisation directly from abroad",
}


def half_up(amount: Decimal) -> Decimal:
    """To the penny, ≥ 0.5p up (never Python's default banker's rounding)."""
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def vat_on(net: Decimal, percent: Decimal) -> Decimal:
    """The VAT of one line: `percent` of its net, half-up to the penny."""
    return half_up(net * percent / 100)


def treatment_for(*, vat_registered: bool, supply: str) -> Treatment:
    if not vat_registered:
        return Treatment.NO_VAT
    return Treatment.STANDARD if supply == WEDSYNC else Treatment.REVERSE_CHARGE


def allocate(exact: Mapping[str, Decimal], target: Decimal) -> dict[str, Decimal]:
    """Split `target` (whole pennies) over the keys of `exact` (non-negative unrounded amounts):
    each key gets its amount rounded down to the penny, and the pennies left go one each to the
    keys with the largest remainders (ties: key order). Every share is then within a penny of
    its exact amount. `target` must lie between the rounded-down sum and that sum plus one penny
    per key (the month's total rounded half-up always does)."""
    if any(value < 0 for value in exact.values()):
        raise ValueError("allocate() splits non-negative amounts only")
    shares = {key: value.quantize(PENNY, rounding=ROUND_FLOOR) for key, value in exact.items()}
    missing = int((target - sum(shares.values(), ZERO)) / PENNY)
    if not 0 <= missing <= len(shares):
        raise ValueError(f"cannot split {target} over {dict(exact)}: {missing} pennies left for {len(shares)} lines")
    by_remainder = sorted(shares, key=lambda key: (-(exact[key] - shares[key]), key))
    for key in by_remainder[:missing]:
        shares[key] += PENNY
    return shares


@dataclass(frozen=True)
class Line:
    """One line of a document: the cost of one AI provider's usage.

    net     the cost before VAT
    vat     VAT the supplier charges on it (standard rate: 20 % half-up; none from an overseas supplier)
    gross   net + vat: what the organisation pays for it
    notional_vat  reverse charge only: the VAT the organisation self-accounts (Box 1 and Box 4)
    amount  what the ledger line carries: the net where VAT is recorded (standard, reverse charge),
            the gross where it is not (not VAT registered: the whole cost is the expense)
    """

    key: str
    description: str
    requests: int
    net: Decimal
    vat: Decimal
    gross: Decimal
    notional_vat: Decimal
    amount: Decimal

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "description": self.description,
            "requests": self.requests,
            "net": str(self.net),
            "vat": str(self.vat),
            "gross": str(self.gross),
            "notional_vat": str(self.notional_vat),
            "amount": str(self.amount),
        }

    @classmethod
    def from_json(cls, data: dict) -> Line:
        money = {name: Decimal(data[name]) for name in ("net", "vat", "gross", "notional_vat", "amount")}
        return cls(key=data["key"], description=data["description"], requests=int(data["requests"]), **money)


def priced_line(
    key: str, description: str, requests: int, net: Decimal, *, treatment: Treatment, supply: str, percent: Decimal
) -> Line:
    """One line's VAT, gross and ledger amount from its net, per the treatment."""
    supplier_charges_vat = supply == WEDSYNC  # WedSync AI Services is VAT registered; overseas providers charge none
    vat = vat_on(net, percent) if supplier_charges_vat else ZERO
    notional = vat_on(net, percent) if treatment == Treatment.REVERSE_CHARGE else ZERO
    gross = net + vat
    amount = gross if treatment == Treatment.NO_VAT else net
    return Line(key, description, requests, net, vat, gross, notional, amount)


@dataclass(frozen=True)
class Totals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    notional_vat: Decimal
    amount: Decimal

    @classmethod
    def of(cls, lines: list[Line]) -> Totals:
        def total(name):
            return sum((getattr(line, name) for line in lines), ZERO)

        return cls(total("net"), total("vat"), total("gross"), total("notional_vat"), total("amount"))

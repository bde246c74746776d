"""What a month's export is, before any vendor shape: the plan for a month (export it, adjust it,
hold it, nothing to do) and the vendor-neutral document each provider turns into its payload.

A month is exported once. Usage that arrives later (the AI platform resending after an outage,
records priced when a rate arrives) makes the month's cost grow: the next run sends an
*adjustment* document for what changed, referencing the month, never an edit of a posted one.
Adjustments carry the difference per AI provider between the month's unrounded cost now and
when it was last exported, and are sized so that all the month's documents together add up to
the month's cost rounded to the penny (vat.allocate). A month whose cost went *down* (records
deleted by hand) needs a credit note, which is not automated: it is held and staff are told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from django.conf import settings

from .models import MonthlyExport, Treatment
from .months import Month
from .report import MonthlyCostReport
from .vat import Line, Totals, allocate, half_up, priced_line

ZERO = Decimal("0.00")
PROVIDER_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "mistral": "Mistral AI",
                   "cohere": "Cohere", "azure": "Azure OpenAI", "bedrock": "AWS Bedrock"}  # fmt: skip


def provider_label(name: str) -> str:
    return PROVIDER_LABELS.get(name, name.replace("_", " ").title())


class Outcome:
    EXPORT = "export"
    HOLD = "hold"
    NO_USAGE = "no_usage"
    UP_TO_DATE = "up_to_date"
    DECREASED = "decreased"


@dataclass
class Plan:
    """What to do about one month of one ledger."""

    month: Month
    report: MonthlyCostReport
    outcome: str
    reason: str = ""
    sequence: int = 0
    lines: list[Line] = field(default_factory=list)
    exact: dict[str, Decimal] = field(default_factory=dict)

    @property
    def totals(self) -> Totals:
        return Totals.of(self.lines)  # plans are built line by line: not cached


def reference_for(organisation_id: int, month: Month, sequence: int) -> str:
    """The document number: WS-YYMM-<organisation>(-A<n>), at most 21 characters (QuickBooks' DocNumber)."""
    base = f"WS-{month.year % 100:02d}{month.month:02d}-{organisation_id:06d}"
    return base + (f"-A{sequence}" if sequence else "")


def plan_month(report: MonthlyCostReport, previous: list[MonthlyExport], *, treatment: Treatment, supply: str) -> Plan:
    """Decide one month from its report and the documents already exported for it (oldest first)."""
    month = report.month
    if not report.is_final:
        return Plan(month, report, Outcome.HOLD, report.not_final_reason())
    exact = report.exact_by_provider()
    if not previous:
        if not report.has_usage:
            return Plan(month, report, Outcome.NO_USAGE, f"no AI usage in {month.title}: nothing to export")
        return _priced(Plan(month, report, Outcome.EXPORT, exact=exact), exact, half_up(report.cost_gbp),
                       {}, treatment, supply)  # fmt: skip
    last = previous[-1]
    before = {name: Decimal(value) for name, value in last.exact_by_provider.items()}
    deltas = {name: exact.get(name, ZERO) - before.get(name, ZERO) for name in sorted(set(exact) | set(before))}
    if any(delta < 0 for delta in deltas.values()):
        fallen = ", ".join(f"{provider_label(n)} {d:+.6f}" for n, d in deltas.items() if d < 0)
        return Plan(month, report, Outcome.DECREASED, (
            f"the cost of {month.title} went down since {last.reference} was exported ({fallen} GBP): the ledger "
            "needs a credit note, which is not sent automatically; nothing was exported"
        ), exact=exact)  # fmt: skip
    target = half_up(report.cost_gbp) - sum((export.net_gbp for export in previous), ZERO)
    growth = {name: delta for name, delta in deltas.items() if delta > 0}
    if target <= 0 or not growth:
        return Plan(month, report, Outcome.UP_TO_DATE, exact=exact)
    plan = Plan(month, report, Outcome.EXPORT, sequence=previous[-1].sequence + 1, exact=exact)
    requests_before = {name: figures["requests"] for name, figures in last.report.get("by_provider", {}).items()}
    return _priced(plan, growth, target, requests_before, treatment, supply)


def _priced(plan: Plan, amounts, target, requests_before, treatment, supply) -> Plan:
    nets = allocate(amounts, target)
    percent = settings.ACCOUNTING_STANDARD_VAT_PERCENT
    by_provider = plan.report.by_provider
    for name, net in nets.items():
        if net <= 0:
            continue  # a fraction of a penny: it stays in the month's exact figures for the next adjustment
        requests = by_provider[name].requests - requests_before.get(name, 0) if name in by_provider else 0
        description = _line_description(plan, name, requests)
        plan.lines.append(
            priced_line(name, description, requests, net, treatment=treatment, supply=supply, percent=percent)
        )
    return plan


def _line_description(plan: Plan, provider: str, requests: int) -> str:
    what = f"{provider_label(provider)} ({requests:,} requests)"
    if plan.sequence:
        return f"AI usage {plan.month.title}, adjustment {plan.sequence} (usage recorded after export): {what}"
    return f"AI usage {plan.month.title}: {what}"


# -- the document a provider turns into its payload ----------------------------------------------------
@dataclass(frozen=True)
class Document:
    export_id: int
    reference: str
    month: Month
    sequence: int
    treatment: Treatment
    supply: str
    date: date
    due_date: date
    lines: tuple[Line, ...]
    supplier_name: str
    memo: str
    url: str
    original_reference: str = ""

    @cached_property
    def totals(self) -> Totals:
        return Totals.of(list(self.lines))

    @property
    def marker(self) -> str:
        """What identifies our document in a vendor's free text (FreshBooks notes)."""
        return f"[{self.reference}]"

    def as_json(self) -> dict:
        return {
            "export_id": self.export_id,
            "reference": self.reference,
            "month": self.month.label,
            "sequence": self.sequence,
            "treatment": str(self.treatment),
            "supply": self.supply,
            "date": self.date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "lines": [line.as_json() for line in self.lines],
            "supplier_name": self.supplier_name,
            "memo": self.memo,
            "url": self.url,
            "original_reference": self.original_reference,
        }

    @classmethod
    def from_json(cls, data: dict) -> Document:
        return cls(
            export_id=int(data["export_id"]),
            reference=data["reference"],
            month=Month.parse(data["month"]),
            sequence=int(data["sequence"]),
            treatment=Treatment(data["treatment"]),
            supply=data["supply"],
            date=date.fromisoformat(data["date"]),
            due_date=date.fromisoformat(data["due_date"]),
            lines=tuple(Line.from_json(line) for line in data["lines"]),
            supplier_name=data["supplier_name"],
            memo=data["memo"],
            url=data["url"],
            original_reference=data.get("original_reference", ""),
        )


def document_for(
    plan: Plan, *, export_id: int, reference: str, treatment: str, supply: str, today: date, url: str, original: str
) -> Document:
    # The month's own document is dated its last day (its VAT period); an adjustment is dated when
    # it is made, because the month's period may be closed (locked) in the ledger by then.
    day = plan.month.last_day if plan.sequence == 0 else today
    supplier = settings.ACCOUNTING_SUPPLIER_NAME if supply == "wedsync" else _overseas_suppliers(plan)
    memo = f"WedSync AI usage {plan.month.title} ({reference})"
    if plan.sequence:
        memo = f"WedSync AI usage {plan.month.title}, adjustment {plan.sequence} to {original} ({reference})"
    totals = plan.totals
    if totals.notional_vat:
        memo += (f"; reverse charge: account for VAT of £{totals.notional_vat} in Box 1 and Box 4, "
                 f"net £{totals.net} in Box 6 and Box 7")  # fmt: skip
    return Document(
        export_id=export_id,
        reference=reference,
        month=plan.month,
        sequence=plan.sequence,
        treatment=Treatment(treatment),
        supply=supply,
        date=day,
        due_date=day + timedelta(days=settings.ACCOUNTING_BILL_DUE_DAYS),
        lines=tuple(plan.lines),
        supplier_name=supplier,
        memo=memo,
        url=url,
        original_reference=original,
    )


def _overseas_suppliers(plan: Plan) -> str:
    return ", ".join(provider_label(line.key) for line in plan.lines)[:100] or "Overseas AI provider"

"""UK VAT on the documents (accounting/vat.py, docs/vendors/uk-vat.md): the contract's rounding
examples, the three treatments, and a property test over any set of costs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounting.models import Treatment
from accounting.vat import OVERSEAS_PROVIDER, WEDSYNC, Totals, allocate, half_up, priced_line, treatment_for, vat_on

TWENTY = Decimal("20")
D = Decimal


def line(net, *, treatment=Treatment.STANDARD, supply=WEDSYNC):
    return priced_line("openai", "AI usage", 1, D(net), treatment=treatment, supply=supply, percent=TWENTY)


# -- the contract's examples (§4.4) ------------------------------------------------------------------------
def test_one_hundred_pounds_net_carries_twenty_pounds_vat():
    assert vat_on(D("100.00"), TWENTY) == D("20.00")


def test_three_lines_of_83p_carry_51p_of_vat_per_line_never_the_invoice_level_49p_or_50p():
    lines = [line("0.83") for _ in range(3)]
    assert [entry.vat for entry in lines] == [D("0.17")] * 3
    totals = Totals.of(lines)
    assert (totals.net, totals.vat, totals.gross) == (D("2.49"), D("0.51"), D("3.00"))


def test_vat_rounds_half_up_where_python_would_round_half_to_even():
    assert half_up(D("0.125")) == D("0.13")  # the default context (half-even) would give 0.12
    assert half_up(D("2.675")) == D("2.68")
    assert vat_on(D("0.03"), TWENTY) == D("0.01")  # 0.006 -> 0.01
    assert vat_on(D("0.02"), TWENTY) == D("0.00")  # 0.004 -> 0.00
    assert vat_on(D("0.025"), TWENTY) == D("0.01")  # exactly 0.005 -> up


# -- the treatments (§4.3 table) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "registered, supply, treatment",
    [
        (True, WEDSYNC, Treatment.STANDARD),
        (True, OVERSEAS_PROVIDER, Treatment.REVERSE_CHARGE),
        (False, WEDSYNC, Treatment.NO_VAT),
        (False, OVERSEAS_PROVIDER, Treatment.NO_VAT),
    ],
)
def test_the_treatment_follows_registration_and_who_supplies(registered, supply, treatment):
    assert treatment_for(vat_registered=registered, supply=supply) == treatment


def test_standard_rate_the_ledger_line_is_the_net_and_vat_is_charged():
    entry = line("19.73")
    assert (entry.net, entry.vat, entry.gross, entry.notional_vat, entry.amount) == (
        D("19.73"), D("3.95"), D("23.68"), D("0.00"), D("19.73"),
    )  # fmt: skip


def test_reverse_charge_nothing_is_payable_and_the_notional_vat_is_for_boxes_1_and_4():
    entry = line("19.73", treatment=Treatment.REVERSE_CHARGE, supply=OVERSEAS_PROVIDER)
    assert (entry.net, entry.vat, entry.gross, entry.notional_vat, entry.amount) == (
        D("19.73"), D("0.00"), D("19.73"), D("3.95"), D("19.73"),
    )  # fmt: skip


def test_not_registered_the_gross_is_the_expense():
    charged = line("19.73", treatment=Treatment.NO_VAT, supply=WEDSYNC)  # WedSync still charges its 20 %
    assert (charged.vat, charged.gross, charged.amount) == (D("3.95"), D("23.68"), D("23.68"))
    overseas = line("19.73", treatment=Treatment.NO_VAT, supply=OVERSEAS_PROVIDER)
    assert (overseas.vat, overseas.gross, overseas.amount) == (D("0.00"), D("19.73"), D("19.73"))


# -- splitting a month's cost into lines ------------------------------------------------------------------------
def test_lines_add_up_to_the_month_rounded_and_each_is_within_a_penny_of_its_cost():
    exact = {"anthropic": D("0.004999"), "google": D("0.004999"), "openai": D("10.005001")}
    total = half_up(sum(exact.values()))  # 10.014999 -> 10.01
    shares = allocate(exact, total)
    assert sum(shares.values()) == total == D("10.01")
    assert shares == {"anthropic": D("0.00"), "google": D("0.00"), "openai": D("10.01")}


def test_the_largest_remainders_get_the_missing_pennies():
    exact = {"a": D("1.009"), "b": D("1.004"), "c": D("1.008")}  # 3.021 -> 3.02: two pennies missing
    assert allocate(exact, D("3.02")) == {"a": D("1.01"), "b": D("1.00"), "c": D("1.01")}


def test_allocate_refuses_a_target_it_cannot_reach_within_a_penny_a_line():
    with pytest.raises(ValueError, match="cannot split"):
        allocate({"a": D("1.00")}, D("1.02"))


# -- the property test (issue 10) ----------------------------------------------------------------------------------
costs = st.decimals(min_value=D("0"), max_value=D("5000"), places=6, allow_nan=False, allow_infinity=False)
SUPPLIED_BY = [WEDSYNC, OVERSEAS_PROVIDER]
record_sets = st.lists(st.tuples(st.sampled_from(["openai", "anthropic", "google", "mistral"]), costs), max_size=60)


@settings(max_examples=300, deadline=None)
@given(records=record_sets, treatment=st.sampled_from(list(Treatment)), supply=st.sampled_from(SUPPLIED_BY))
def test_for_any_records_lines_reconcile_and_vat_is_half_up_per_line(records, treatment, supply):
    exact: dict[str, Decimal] = {}
    for provider, cost in records:
        exact[provider] = exact.get(provider, D(0)) + cost
    document_net = half_up(sum(exact.values(), D(0)))
    nets = allocate(exact, document_net)
    lines = [priced_line(p, p, 1, net, treatment=treatment, supply=supply, percent=TWENTY) for p, net in nets.items()]
    totals = Totals.of(lines)

    # line nets sum to the document's net: exactly (so within a penny per line), each within a penny of its cost
    assert totals.net == document_net
    assert abs(totals.net - sum(exact.values(), D(0))) <= D("0.005")
    for entry in lines:
        assert abs(entry.net - exact[entry.key]) < D("0.01")
        # VAT per line is half-up of 20 % (when the supplier charges it), gross = net + VAT
        expected_vat = (entry.net * TWENTY / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP")
        assert entry.vat == (expected_vat if supply == WEDSYNC else D("0.00"))
        assert entry.gross == entry.net + entry.vat
        assert entry.amount == (entry.gross if treatment == Treatment.NO_VAT else entry.net)
    # the document's VAT is the sum of its lines' VAT, never 20 % of its total
    assert totals.vat == sum((entry.vat for entry in lines), D(0))
    assert totals.gross == totals.net + totals.vat

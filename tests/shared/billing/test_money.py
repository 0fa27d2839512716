"""shared.billing.money: amounts parsed and shown exactly, invoice status, and how a payment is spread."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.billing.money import (
    CENT,
    Due,
    InvoiceStatus,
    format_money,
    invoice_status,
    parse_amount,
    plan_allocation,
)
from shared.errors import DomainError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", "12.00"),
        (" 12.00 ", "12.00"),
        ("$12", "12.00"),
        ("$ 12.5", "12.50"),
        ("1,234.5", "1234.50"),
        (".5", "0.50"),
        ("12.", "12.00"),
        ("0.01", "0.01"),
        ("1000000", "1000000.00"),
    ],
)
def test_parse_amount_accepts_what_people_type(text: str, expected: str) -> None:
    amount = parse_amount(text)
    assert amount == Decimal(expected)
    assert amount.as_tuple().exponent == -2  # always quantised to the cent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        ("$", "Enter an amount"),
        ("abc", "as a number"),
        ("NaN", "as a number"),
        ("Infinity", "as a number"),
        ("1e3", "as a number"),
        ("12.345", "two decimals"),
        ("0.001", "two decimals"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("-5", "greater than zero"),
        ("−5", "greater than zero"),
        ("1,23", "as a number"),
        ("12,34.00", "as a number"),
        ("١٢", "as a number"),  # Arabic-Indic digits: Decimal() would take them
        ("1000000.01", "at most"),
        ("1,234,567", "at most"),
        ("9" * 60, "at most"),
    ],
)
def test_parse_amount_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(DomainError, match=message) as caught:
        parse_amount(text, field="pay_amount")
    assert caught.value.field == "pay_amount"


def test_parse_amount_maximum_is_configurable() -> None:
    assert parse_amount("50", maximum=Decimal("50.00")) == Decimal("50.00")
    with pytest.raises(DomainError, match=r"\$50\.00"):
        parse_amount("50.01", maximum=Decimal("50.00"))


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("0"), "USD", "$0.00"),
        (Decimal("-5"), "USD", "−$5.00"),
        (Decimal("3"), "EUR", "€3.00"),
        (Decimal("3"), "GBP", "£3.00"),
        (Decimal("3"), "cad", "$3.00"),
        (Decimal("1234.5"), "CHF", "1,234.50 CHF"),
        (Decimal("-1234.5"), "CHF", "−1,234.50 CHF"),
        (Decimal("1000000.00"), "USD", "$1,000,000.00"),
        (Decimal("0.005"), "USD", "$0.01"),  # half a cent shows rounded up, never as a float artefact
    ],
)
def test_format_money(amount: Decimal, currency: str, shown: str) -> None:
    assert format_money(amount, currency) == shown


def test_invoice_status() -> None:
    total = Decimal("30.00")
    assert invoice_status(total, Decimal("0.00"), False) is InvoiceStatus.OPEN
    assert invoice_status(total, Decimal("0.01"), False) is InvoiceStatus.PARTIALLY_PAID
    assert invoice_status(total, Decimal("29.99"), False) is InvoiceStatus.PARTIALLY_PAID
    assert invoice_status(total, total, False) is InvoiceStatus.PAID
    assert invoice_status(total, total, True) is InvoiceStatus.VOID
    assert invoice_status(total, Decimal("0.00"), True) is InvoiceStatus.VOID
    assert str(InvoiceStatus.PARTIALLY_PAID) == "partially paid"


def due(invoice_id: int, balance: str, day: int = 1) -> Due:
    return Due(invoice_id=invoice_id, number=f"INV-{invoice_id}", due_on=date(2026, 12, day), balance=Decimal(balance))


def test_partial_payment_goes_to_the_oldest_invoice() -> None:
    plan = plan_allocation(Decimal("10.00"), [due(2, "30.00", 20), due(1, "30.00", 5)])
    assert plan.lines == ((1, Decimal("10.00")),)
    assert plan.credit == Decimal("0.00")


def test_payment_spreads_over_several_invoices_oldest_first() -> None:
    # Same due date: the lower id is older.
    plan = plan_allocation(Decimal("50.00"), [due(3, "30.00", 5), due(1, "30.00", 5), due(2, "5.55", 1)])
    assert plan.lines == ((2, Decimal("5.55")), (1, Decimal("30.00")), (3, Decimal("14.45")))
    assert plan.credit == Decimal("0.00")


def test_over_payment_leaves_credit() -> None:
    plan = plan_allocation(Decimal("100.00"), [due(1, "30.00"), due(2, "29.99")])
    assert plan.lines == ((1, Decimal("30.00")), (2, Decimal("29.99")))
    assert plan.credit == Decimal("40.01")
    assert plan.applied + plan.credit == Decimal("100.00")


def test_payment_with_nothing_due_is_all_credit() -> None:
    plan = plan_allocation(Decimal("25.00"), [])
    assert plan.lines == ()
    assert plan.credit == Decimal("25.00")


def test_cents_stay_exact() -> None:
    # Thirds of a dollar that floats would smear: every line is a whole number of cents and nothing is lost.
    dues = [due(i, "0.33", i) for i in range(1, 4)]
    plan = plan_allocation(Decimal("1.00"), dues)
    assert plan.lines == tuple((i, Decimal("0.33")) for i in range(1, 4))
    assert plan.credit == Decimal("0.01")
    assert all(amount.as_tuple().exponent == -2 for _, amount in plan.lines)


def test_an_amount_with_a_fraction_of_a_cent_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        plan_allocation(Decimal("10.005"), [due(1, "30.00")])
    assert caught.value.field == "amount"
    with pytest.raises(DomainError):
        plan_allocation(Decimal("0.00"), [due(1, "30.00")])
    with pytest.raises(DomainError):
        plan_allocation(Decimal("NaN"), [due(1, "30.00")])


def test_requested_amounts_come_first_and_are_kept_exactly() -> None:
    dues = [due(1, "30.00", 1), due(2, "30.00", 2), due(3, "30.00", 3)]
    plan = plan_allocation(Decimal("50.00"), dues, {3: Decimal("25.00"), 1: Decimal("5.00")})
    # 3 and 1 get what was asked for (1 is not topped up: the payer chose 5.00); the rest goes to 2.
    assert plan.lines == ((1, Decimal("5.00")), (2, Decimal("20.00")), (3, Decimal("25.00")))
    assert plan.credit == Decimal("0.00")


def test_requested_amounts_with_the_rest_as_credit() -> None:
    plan = plan_allocation(Decimal("40.00"), [due(1, "30.00")], {1: Decimal("30.00")})
    assert plan.lines == ((1, Decimal("30.00")),)
    assert plan.credit == Decimal("10.00")


def test_a_zero_request_is_no_request() -> None:
    plan = plan_allocation(Decimal("10.00"), [due(1, "30.00")], {1: Decimal("0.00")})
    assert plan.lines == ((1, Decimal("10.00")),)


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ({1: Decimal("30.01")}, "more than the"),
        ({9: Decimal("1.00")}, "open invoices you selected"),
        ({1: Decimal("-1.00")}, "positive amount"),
        ({1: Decimal("1.001")}, "positive amount"),
        ({1: Decimal("30.00"), 2: Decimal("30.00")}, "add up to more than the payment"),
    ],
)
def test_impossible_requests_are_refused(requested: dict[int, Decimal], message: str) -> None:
    with pytest.raises(DomainError, match=message) as caught:
        plan_allocation(Decimal("50.00"), [due(1, "30.00"), due(2, "30.00")], requested)
    assert caught.value.field == "allocation"


def test_duplicate_dues_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        plan_allocation(Decimal("1.00"), [due(1, "1.00"), due(1, "1.00")])


cents = st.integers(min_value=1, max_value=100_000_000).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Decimal, list[Due], dict[int, Decimal]]:
    balances = draw(st.lists(cents, max_size=8))
    dues = [
        Due(invoice_id=i + 1, number=f"INV-{i + 1}", due_on=date(2026, 1 + draw(st.integers(0, 11)), 1), balance=b)
        for i, b in enumerate(balances)
    ]
    amount = draw(cents)
    requested: dict[int, Decimal] = {}
    budget = amount
    for d in draw(st.lists(st.sampled_from(dues), unique_by=lambda d: d.invoice_id)) if dues else []:
        top = min(d.balance, budget)
        if top <= 0:
            break
        wanted = Decimal(draw(st.integers(0, int(top * 100)))).scaleb(-2)
        requested[d.invoice_id] = wanted
        budget -= wanted
    return amount, dues, requested


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_allocation_never_exceeds_a_balance_and_accounts_for_every_cent(
    scenario: tuple[Decimal, list[Due], dict[int, Decimal]],
) -> None:
    amount, dues, requested = scenario
    plan = plan_allocation(amount, dues, requested)
    balances = {d.invoice_id: d.balance for d in dues}
    assert sum((a for _, a in plan.lines), Decimal(0)) + plan.credit == amount
    assert plan.credit >= 0
    assert len({invoice_id for invoice_id, _ in plan.lines}) == len(plan.lines)
    for invoice_id, applied in plan.lines:
        assert 0 < applied <= balances[invoice_id]
        assert applied.as_tuple().exponent == -2 and applied == applied.quantize(CENT)
    for invoice_id, wanted in requested.items():
        if wanted > 0:  # a zero request is no request: the money may go there oldest first
            assert dict(plan.lines)[invoice_id] == wanted
    # Credit is left only when every invoice without a request is fully paid.
    if plan.credit > 0:
        for d in dues:
            if d.invoice_id not in requested or requested[d.invoice_id] == 0:
                assert dict(plan.lines)[d.invoice_id] == d.balance


@settings(max_examples=300, deadline=None)
@given(cents)
def test_format_and_parse_round_trip(amount: Decimal) -> None:
    shown = format_money(amount)
    if amount <= Decimal("1000000.00"):
        assert parse_amount(shown) == amount

"""Money without I/O: parsing and showing amounts, an invoice's status, and how a payment is spread over invoices."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from shared.errors import DomainError

CENT = Decimal("0.01")
MAX_PAYMENT = Decimal("1000000.00")

# Digits, optionally grouped in thousands by commas, then an optional decimal part. ASCII digits only: Python's \d and
# Decimal() both take other scripts' digits, which nobody types into an amount on purpose.
_AMOUNT = re.compile(
    r"""
    (?P<whole> [0-9]{1,3} (?: ,[0-9]{3} )+   # 1,234,567
             | [0-9]+                        # 1234567
             | (?= \.[0-9] ) )               # nothing before the point: .50
    (?: \. (?P<fraction> [0-9]* ) )?         # .5, .50, 12. (digits counted below, to say "too many decimals")
    """,
    re.VERBOSE | re.ASCII,
)
_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}
_MINUS = "\N{MINUS SIGN}"


def parse_amount(text: str, *, field: str = "amount", maximum: Decimal = MAX_PAYMENT) -> Decimal:
    """An amount typed by a person ("1,234.5", "$12", " 12.00 ") as an exact Decimal of cents; DomainError otherwise."""
    cleaned = text.strip()
    if cleaned[:1] in ("$", "€", "£"):
        cleaned = cleaned[1:].lstrip()
    if not cleaned:
        raise DomainError("Enter an amount.", field=field)
    if cleaned[0] in ("-", _MINUS):
        raise DomainError("Enter an amount greater than zero.", field=field)
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise DomainError("Enter the amount as a number, for example 125.50.", field=field)
    fraction = match["fraction"] or ""
    if len(fraction) > 2:
        raise DomainError("Enter the amount in dollars and cents, with at most two decimals.", field=field)
    too_large = DomainError(f"Enter an amount of at most {format_money(maximum)}.", field=field)
    try:
        amount = Decimal(f"{match['whole'].replace(',', '') or '0'}.{fraction or '0'}").quantize(CENT)
    except InvalidOperation as error:  # more digits than Decimal's precision: far above any maximum
        raise too_large from error
    if amount <= 0:
        raise DomainError("Enter an amount greater than zero.", field=field)
    if amount > maximum:
        raise too_large
    return amount


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """How pages, mail and PDFs show an amount: "$1,234.50", "€3.00", "1,234.50 CHF"; negatives with U+2212."""
    shown = f"{abs(amount).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"
    sign = _MINUS if amount < 0 else ""
    symbol = _SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{sign}{shown} {currency.upper()}"
    return f"{sign}{symbol}{shown}"


def is_cents(amount: Decimal) -> bool:
    """True for a finite amount with no fraction of a cent."""
    return amount.is_finite() and amount == amount.quantize(CENT)


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially paid"
    PAID = "paid"
    VOID = "void"


def invoice_status(total: Decimal, applied: Decimal, voided: bool) -> InvoiceStatus:
    if voided:
        return InvoiceStatus.VOID
    if applied >= total:
        return InvoiceStatus.PAID
    if applied > 0:
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.OPEN


@dataclass(frozen=True)
class Due:
    """An invoice that still owes money; lists of them run oldest first, by (due_on, invoice_id)."""

    invoice_id: int
    number: str
    due_on: date
    balance: Decimal


@dataclass(frozen=True)
class Allocation:
    """How one payment is spread: (invoice_id, amount) lines in the order of the dues, and what is left as credit."""

    lines: tuple[tuple[int, Decimal], ...]
    credit: Decimal

    @property
    def applied(self) -> Decimal:
        return sum((amount for _, amount in self.lines), Decimal("0.00"))


def plan_allocation(amount: Decimal, dues: Sequence[Due], requested: Mapping[int, Decimal] | None = None) -> Allocation:
    """Spread `amount` over `dues`: requested per-invoice amounts first, the rest oldest first, the remainder credit.

    An invoice given a requested amount gets exactly that (the payer chose it); the rest of the money goes oldest first
    over the other dues. No invoice ever gets more than its balance. A requested amount above an invoice's balance,
    for an invoice not among the dues, or requests adding up to more than the payment, are refused (field
    "allocation"): the payer is told rather than the money quietly moved elsewhere.
    """
    if not is_cents(amount) or amount <= 0:
        raise DomainError("The payment must be a positive amount in cents.", field="amount")
    ordered = sorted(dues, key=lambda due: (due.due_on, due.invoice_id))
    by_id = {due.invoice_id: due for due in ordered}
    if len(by_id) != len(ordered):
        raise ValueError("the same invoice appears twice among the dues")
    chosen: dict[int, Decimal] = {}
    for invoice_id, wanted in (requested or {}).items():
        due = by_id.get(invoice_id)
        if due is None:
            raise DomainError("A payment can go only to open invoices you selected.", field="allocation")
        if not is_cents(wanted) or wanted < 0:
            raise DomainError(f"Enter a positive amount in cents for invoice {due.number}.", field="allocation")
        if wanted > due.balance:
            raise DomainError(
                f"{format_money(wanted)} is more than the {format_money(due.balance)} due on invoice {due.number}.",
                field="allocation",
            )
        if wanted > 0:
            chosen[invoice_id] = wanted
    if sum(chosen.values(), Decimal("0.00")) > amount:
        raise DomainError("The amounts for the invoices add up to more than the payment.", field="allocation")
    left = amount - sum(chosen.values(), Decimal("0.00"))
    lines: list[tuple[int, Decimal]] = []
    for due in ordered:
        if due.invoice_id in chosen:
            lines.append((due.invoice_id, chosen[due.invoice_id]))
        elif left > 0 and due.balance > 0:
            part = min(left, due.balance)
            lines.append((due.invoice_id, part))
            left -= part
    return Allocation(lines=tuple(lines), credit=left)

"""Card and bank-account checks (pure): Luhn, brand, ABA routing checksum, expiry, security code, form errors."""

from __future__ import annotations

import re
from datetime import date

# Field names of the payment method form (DESIGN.md): errors are keyed by them so the page shows each at its input.
CARD_NUMBER = "card_number"
EXP_MONTH = "exp_month"
EXP_YEAR = "exp_year"
SECURITY_CODE = "card_security_code"
HOLDER_NAME = "holder_name"
BILLING_ADDRESS = "billing_address"
ROUTING_NUMBER = "routing_number"
ACCOUNT_NUMBER = "account_number"
ACCOUNT_TYPE = "account_type"

AMEX = "American Express"
HOLDER_NAME_MAX = 200
BILLING_ADDRESS_MAX = 500
# Cards are issued for at most a few years ahead; a year far beyond is a typo, not a card.
MAX_YEARS_AHEAD = 20

# Only digits, with spaces or dashes between groups as people type them ("4242 4242 4242 4242", "4242-4242-...").
_TYPED_NUMBER = re.compile(r"[0-9]+(?:[ -]+[0-9]+)*")

# (brand, prefix ranges as (low, high) over the first len(low) digits, allowed lengths). Order matters: the first
# match wins, so Discover's co-branded UnionPay range 622126-622925 comes before UnionPay's 62.
_BRANDS: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[int, ...]], ...] = (
    ("Visa", (("4", "4"),), (13, 16, 19)),
    ("Mastercard", (("51", "55"), ("2221", "2720")), (16,)),
    (AMEX, (("34", "34"), ("37", "37")), (15,)),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), (16, 17, 18, 19)),
    ("Diners Club", (("300", "305"), ("36", "36"), ("38", "39")), (14, 15, 16, 17, 18, 19)),
    ("JCB", (("3528", "3589"),), (16, 17, 18, 19)),
    ("UnionPay", (("62", "62"),), (16, 17, 18, 19)),
)
ACCEPTED_BRANDS = tuple(brand for brand, _, _ in _BRANDS)
_ACCEPTED_TEXT = ", ".join(ACCEPTED_BRANDS[:-1]) + " and " + ACCEPTED_BRANDS[-1]


def digits_only(text: str) -> str | None:
    """The digits of a typed number, allowing spaces and dashes between them; None for anything else."""
    stripped = text.strip()
    if not _TYPED_NUMBER.fullmatch(stripped):
        return None
    return re.sub(r"[ -]", "", stripped)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every card number carries."""
    if not digits.isascii() or not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The brand a card number's prefix and length say (Visa, Mastercard, American Express, ...), or None."""
    if not digits.isascii() or not digits.isdigit():
        return None
    for brand, ranges, lengths in _BRANDS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            prefix = digits[: len(low)]
            if len(prefix) == len(low) and low <= prefix <= high:
                return brand
    return None


def aba_valid(routing: str) -> bool:
    """The ABA routing number checksum: 9 digits weighted 3, 7, 1 repeating, the sum a multiple of 10."""
    if len(routing) != 9 or not routing.isascii() or not routing.isdigit():
        return False
    weights = (3, 7, 1) * 3
    total = sum(int(digit) * weight for digit, weight in zip(routing, weights, strict=True))
    # All zeros passes the sum but is no bank.
    return total % 10 == 0 and routing != "000000000"


def parse_month(value: str | int) -> int | None:
    """A month 1-12 from a form value ("07", "7") or an int; None when it is not one."""
    if isinstance(value, int):
        return value if 1 <= value <= 12 else None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 2:
        return None
    month = int(text)
    return month if 1 <= month <= 12 else None


def parse_year(value: str | int) -> int | None:
    """A four-digit year from a form value ("2030" or "30", read as 2030) or an int; None when it is not one."""
    if isinstance(value, int):
        year = value
    else:
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) not in (2, 4):
            return None
        year = int(text)
    if year < 100:
        year += 2000
    return year if 2000 <= year <= 2200 else None


def expiry_valid(month: int, year: int, *, today: date) -> bool:
    """A card works through the last day of its expiry month; a year far in the future is a typo."""
    if (year, month) < (today.year, today.month):
        return False
    return year <= today.year + MAX_YEARS_AHEAD


def security_code_length(brand: str | None) -> int:
    """American Express prints 4 digits on the front; every other brand 3 on the back."""
    return 4 if brand == AMEX else 3


def _holder_and_address(holder_name: str, billing_address: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not holder_name.strip():
        errors[HOLDER_NAME] = "Please enter the name on the account"
    elif len(holder_name.strip()) > HOLDER_NAME_MAX:
        errors[HOLDER_NAME] = f"The name can be at most {HOLDER_NAME_MAX} characters"
    if not billing_address.strip():
        errors[BILLING_ADDRESS] = "Please choose or enter the billing address"
    elif len(billing_address.strip()) > BILLING_ADDRESS_MAX:
        errors[BILLING_ADDRESS] = f"The billing address can be at most {BILLING_ADDRESS_MAX} characters"
    return errors


def validate_card(
    *,
    number: str,
    exp_month: str | int,
    exp_year: str | int,
    security_code: str,
    holder_name: str,
    billing_address: str,
    today: date,
) -> dict[str, str]:
    """Form errors of a card by field name ({} = acceptable). Messages never repeat the number or the code."""
    errors: dict[str, str] = {}
    digits = digits_only(number)
    brand: str | None = None
    if not number.strip():
        errors[CARD_NUMBER] = "Please enter the card number"
    elif digits is None or not luhn_valid(digits):
        errors[CARD_NUMBER] = "The card number is not valid — please check it"
    else:
        brand = card_brand(digits)
        if brand is None:
            errors[CARD_NUMBER] = f"We cannot take this kind of card — we take {_ACCEPTED_TEXT}"

    month = parse_month(exp_month)
    year = parse_year(exp_year)
    if month is None:
        errors[EXP_MONTH] = "Please choose the expiry month (1 to 12)"
    if year is None:
        errors[EXP_YEAR] = "Please enter the expiry year, like 2030"
    if month is not None and year is not None and not expiry_valid(month, year, today=today):
        if (year, month) < (today.year, today.month):
            errors[EXP_YEAR] = "This card has expired — please use a card that is still valid"
        else:
            errors[EXP_YEAR] = "The expiry year is too far ahead — please check it"

    code = security_code.strip()
    wanted = security_code_length(brand)
    if not code:
        errors[SECURITY_CODE] = "Please enter the card's security code"
    elif not code.isascii() or not code.isdigit() or len(code) != wanted:
        where = "on the front of the card" if brand == AMEX else "on the back of the card"
        errors[SECURITY_CODE] = f"The security code is the {wanted} digits {where}"

    errors.update(_holder_and_address(holder_name, billing_address))
    return errors


def validate_bank_account(
    *,
    routing_number: str,
    account_number: str,
    account_type: str,
    holder_name: str,
    billing_address: str,
) -> dict[str, str]:
    """Form errors of a bank account by field name ({} = acceptable). Messages never repeat the account number."""
    errors: dict[str, str] = {}
    routing = digits_only(routing_number)
    if not routing_number.strip():
        errors[ROUTING_NUMBER] = "Please enter the routing number"
    elif routing is None or not aba_valid(routing):
        errors[ROUTING_NUMBER] = "The routing number is not valid — it is the 9 digits at the bottom left of a check"

    account = digits_only(account_number)
    if not account_number.strip():
        errors[ACCOUNT_NUMBER] = "Please enter the account number"
    elif account is None or not 4 <= len(account) <= 17:
        errors[ACCOUNT_NUMBER] = "The account number is not valid — it is 4 to 17 digits; please check it"

    if account_type not in ("checking", "savings"):
        errors[ACCOUNT_TYPE] = "Please choose checking or savings"

    errors.update(_holder_and_address(holder_name, billing_address))
    return errors

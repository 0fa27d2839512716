"""Card and bank-account checks: Luhn, brands, ABA checksum, expiry, security codes and the form's error messages."""

from __future__ import annotations

from datetime import date

import pytest

from shared.billing.cards import (
    aba_valid,
    card_brand,
    digits_only,
    expiry_valid,
    luhn_valid,
    parse_month,
    parse_year,
    validate_bank_account,
    validate_card,
)
from shared.billing.gateway import BankAccountDetails, CardDetails

TODAY = date(2026, 12, 5)

# Every card number of SPEC §3, with its brand.
SPEC_CARDS = [
    ("4242 4242 4242 4242", "Visa"),
    ("5555 5555 5555 4444", "Mastercard"),
    ("4000 0000 0000 0002", "Visa"),
    ("4000 0000 0000 9995", "Visa"),
    ("4000 0000 0000 0119", "Visa"),
    ("4000 0000 0000 3220", "Visa"),
]


@pytest.mark.parametrize(("number", "brand"), SPEC_CARDS)
def test_spec_cards_are_valid(number: str, brand: str) -> None:
    digits = digits_only(number)
    assert digits == number.replace(" ", "")
    assert luhn_valid(digits)
    assert card_brand(digits) == brand
    assert validate_card(**card_form(number=number)) == {}


@pytest.mark.parametrize(
    ("digits", "brand"),
    [
        ("4111111111111111", "Visa"),
        ("4222222222222", "Visa"),  # 13 digits
        ("5105105105105100", "Mastercard"),
        ("2223003122003222", "Mastercard"),  # the 2-series
        ("2720999999999996", "Mastercard"),
        ("378282246310005", "American Express"),
        ("371449635398431", "American Express"),
        ("6011111111111117", "Discover"),
        ("6445644564456445", "Discover"),
        ("6221260000000000", "Discover"),  # the co-branded UnionPay range
        ("3056930009020004", "Diners Club"),
        ("36227206271667", "Diners Club"),
        ("3566002020360505", "JCB"),
        ("6200000000000005", "UnionPay"),
    ],
)
def test_brands(digits: str, brand: str) -> None:
    assert luhn_valid(digits)
    assert card_brand(digits) == brand


@pytest.mark.parametrize(
    "digits",
    [
        "222100000000000",  # a Mastercard prefix, 15 digits
        "2721000000000000",  # just past the 2-series
        "5600000000000000",
        "1234567812345670",
        "42424242424242424242",  # 20 digits
        "",
        "４２４２",  # full-width digits are not card digits
    ],
)
def test_no_brand(digits: str) -> None:
    assert card_brand(digits) is None


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("0")
    assert not luhn_valid("")
    assert not luhn_valid("4242 4242 4242 4242")  # digits only: normalise first
    assert not luhn_valid("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢")  # Arabic-Indic digits


def test_digits_only_allows_spaces_and_dashes_between_groups() -> None:
    assert digits_only(" 4242 4242-4242  4242 ") == "4242424242424242"
    assert digits_only("4242") == "4242"
    for bad in ("", " ", "4242.4242", "4242x", "-4242", "4242-", "4242\n4242", "+4242"):
        assert digits_only(bad) is None, bad


def test_aba_checksum() -> None:
    assert aba_valid("110000000")  # the sandbox's test routing number (SPEC §3)
    assert aba_valid("021000021")
    assert aba_valid("011401533")
    assert not aba_valid("110000001")
    assert not aba_valid("021000022")
    assert not aba_valid("000000000")
    assert not aba_valid("11000000")
    assert not aba_valid("1100000000")
    assert not aba_valid("11000000a")


def test_expiry_runs_to_the_end_of_its_month() -> None:
    assert expiry_valid(12, 2026, today=TODAY)
    assert expiry_valid(12, 2026, today=date(2026, 12, 31))
    assert not expiry_valid(11, 2026, today=TODAY)
    assert not expiry_valid(12, 2025, today=TODAY)
    assert expiry_valid(1, 2027, today=TODAY)
    assert expiry_valid(12, 2046, today=TODAY)
    assert not expiry_valid(1, 2047, today=TODAY)  # a typo, not a card


def test_month_and_year_from_form_text() -> None:
    assert [parse_month(text) for text in ("1", "07", "12", 3)] == [1, 7, 12, 3]
    assert [parse_month(text) for text in ("0", "13", "", "July", "-1", "007", 0)] == [None] * 7
    assert [parse_year(text) for text in ("2030", "30", " 2027 ", 2031, 31)] == [2030, 2030, 2027, 2031, 2031]
    assert [parse_year(text) for text in ("", "203", "20300", "1999", "year", "3000")] == [None] * 6


def card_form(**changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "number": "4242 4242 4242 4242",
        "exp_month": "12",
        "exp_year": "2030",
        "security_code": "123",
        "holder_name": "Ada Lovelace",
        "billing_address": "1 Main St, Springfield",
        "today": TODAY,
    }
    form.update(changes)
    return form


def bank_form(**changes: str) -> dict[str, str]:
    form = {
        "routing_number": "110000000",
        "account_number": "000123456789",
        "account_type": "checking",
        "holder_name": "Ada Lovelace",
        "billing_address": "1 Main St, Springfield",
    }
    form.update(changes)
    return form


def test_validate_card_names_each_field_at_fault() -> None:
    assert validate_card(**card_form()) == {}
    errors = validate_card(
        **card_form(number="4242 4242 4242 4241", exp_month="13", exp_year="20x", security_code="12", holder_name=" ")
    )
    assert set(errors) == {"card_number", "exp_month", "exp_year", "card_security_code", "holder_name"}
    assert errors["card_number"] == "The card number is not valid — please check it"
    assert "4241" not in " ".join(errors.values())

    expired = validate_card(**card_form(exp_month="11", exp_year="2026"))
    assert set(expired) == {"exp_year"}
    assert "expired" in expired["exp_year"]
    assert validate_card(**card_form(exp_month=12, exp_year=2026)) == {}

    missing = validate_card(**card_form(number="", security_code="", billing_address=""))
    assert set(missing) == {"card_number", "card_security_code", "billing_address"}


def test_validate_card_refuses_an_unknown_kind_of_card() -> None:
    errors = validate_card(**card_form(number="1234 5678 1234 5670"))
    assert set(errors) == {"card_number"}
    assert "Visa" in errors["card_number"]
    assert "1234" not in errors["card_number"]


def test_security_code_is_four_digits_for_american_express() -> None:
    amex = "3782 822463 10005"
    assert validate_card(**card_form(number=amex, security_code="1234")) == {}
    three = validate_card(**card_form(number=amex, security_code="123"))
    assert three == {"card_security_code": "The security code is the 4 digits on the front of the card"}
    four = validate_card(**card_form(security_code="1234"))
    assert four == {"card_security_code": "The security code is the 3 digits on the back of the card"}
    assert set(validate_card(**card_form(security_code="12a"))) == {"card_security_code"}


def test_validate_bank_account() -> None:
    assert validate_bank_account(**bank_form()) == {}
    assert validate_bank_account(**bank_form(account_number="000111111116", account_type="savings")) == {}
    assert validate_bank_account(**bank_form(routing_number="110 000 000")) == {}
    errors = validate_bank_account(
        **bank_form(routing_number="110000001", account_number="12", account_type="brokerage", billing_address="")
    )
    assert set(errors) == {"routing_number", "account_number", "account_type", "billing_address"}
    assert errors["account_number"] == "The account number is not valid — it is 4 to 17 digits; please check it"
    assert set(validate_bank_account(**bank_form(account_number="1" * 18))) == {"account_number"}
    assert set(validate_bank_account(**bank_form(account_number="0001234x6789"))) == {"account_number"}


def test_details_never_show_the_number_or_code() -> None:
    card = CardDetails("4242 4242 4242 4242", 12, 2030, "987", "Ada Lovelace", "1 Main St")
    for text in (repr(card), str(card), f"{card}", repr([card])):
        assert "4242 4242 4242 4242" not in text
        assert "4242424242424242" not in text
        assert "987" not in text
        assert "•••• 4242" in text
    assert card.number == "4242 4242 4242 4242"  # still there for the gateway
    short = CardDetails("12345", 1, 2030, "1", "A", "B")
    assert "2345" not in repr(short)

    account = BankAccountDetails("110000000", "000123456789", "checking", "Ada Lovelace", "1 Main St")
    for text in (repr(account), str(account)):
        assert "000123456789" not in text
        assert "•••• 6789" in text
        assert "110000000" in text  # a routing number names a bank, not an account

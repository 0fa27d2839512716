"""The payment method form's secrets: redacted in logs by their field names, never echoed back by a form."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from multidict import MultiDict, MultiDictProxy

from portal.forms import Form
from shared.billing.gateway import CardDetails
from shared.logs import configure_logging, get_logger, is_secret_name

# The form of DESIGN.md, as a customer posts it (security code 987 on purpose: a value nothing else has).
POSTED = {
    "kind": "card",
    "card_number": "4242 4242 4242 4242",
    "exp_month": "12",
    "exp_year": "2030",
    "card_security_code": "987",
    "holder_name": "Ada Lovelace",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "account_type": "checking",
    "billing_address": "1 Main St",
}
SECRETS = ("4242 4242 4242 4242", "4242424242424242", "987", "000123456789")


def leaked(text: str) -> list[str]:
    """The secrets in `text`, each as a whole number (a timestamp's microseconds may hold the digits 987)."""
    return [secret for secret in SECRETS if re.search(rf"(?<![0-9]){re.escape(secret)}(?![0-9])", text)]


@contextmanager
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("card_number", True),
        ("account_number", True),
        ("card_security_code", True),
        ("security_code", True),
        ("bank_account_number", True),
        ("routing_number", False),  # names a bank, printed on every check
        ("holder_name", False),
        ("account_type", False),
        ("account_numbers_checked", False),
    ],
)
def test_payment_field_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_the_posted_form_logged_carelessly_keeps_no_secret() -> None:
    with json_logs() as stream:
        log = get_logger("tests.billing")
        log.info("payment method form", form=POSTED)
        log.info("fields", card_number=POSTED["card_number"], account_number=4242, card_security_code="987")
        log.info("as pairs", fields=list(POSTED.items()))
    text = stream.getvalue()
    assert leaked(text) == []
    first, second, third = (json.loads(line) for line in text.splitlines())
    assert first["form"]["routing_number"] == "110000000"
    assert first["form"]["card_number"] == first["form"]["card_security_code"] == "[redacted]"
    assert second["account_number"] == second["card_security_code"] == "[redacted]"
    assert "Ada Lovelace" in json.dumps(third)


def test_card_details_logged_by_repr_are_masked() -> None:
    card = CardDetails(POSTED["card_number"], 12, 2030, "987", "Ada Lovelace", "1 Main St")
    with json_logs() as stream:
        get_logger("tests.billing").info("tokenising", details=repr(card))
        get_logger("tests.billing").info(f"tokenising {card}")
    assert leaked(stream.getvalue()) == []


def test_a_form_shown_again_never_echoes_the_numbers_or_code() -> None:
    form = Form(MultiDictProxy(MultiDict(POSTED)))
    echoed = form.echo()
    assert "card_number" not in echoed
    assert "account_number" not in echoed
    assert "card_security_code" not in echoed
    assert echoed["routing_number"] == "110000000"
    assert echoed["holder_name"] == "Ada Lovelace"
    assert echoed["exp_month"] == "12"
    assert leaked(json.dumps(echoed)) == []

"""Typed text is checked in one place: one line where it must be, and never longer than its field allows."""

from __future__ import annotations

import pytest

from shared.errors import DomainError
from shared.fields import DEFAULT_LIMIT, LIMITS, limit_of, multi_line, normalise_email, single_line


def test_every_field_has_a_limit_and_longer_text_is_refused_by_that_field() -> None:
    for field in (*LIMITS, "anything_else"):
        limit = limit_of(field)
        assert single_line("x" * limit, field=field) == "x" * limit
        with pytest.raises(DomainError) as refused:
            single_line("x" * (limit + 1), field=field)
        assert refused.value.field == field and f"at most {limit} characters" in refused.value.message
    assert limit_of("anything_else") == DEFAULT_LIMIT


def test_a_five_thousand_character_name_is_refused() -> None:
    with pytest.raises(DomainError, match="at most 120 characters"):
        single_line("N" * 5000, field="name")


def test_line_breaks_and_control_characters_are_refused_on_one_line_but_kept_in_comments() -> None:
    for bad in ("a\nb", "a\rb", "a\x00b", "a\u2028b"):
        with pytest.raises(DomainError, match="on one line"):
            single_line(bad, field="name")
    assert multi_line("first line\r\nsecond\tline ", field="comments") == "first line\nsecond\tline"
    with pytest.raises(DomainError):
        multi_line("bell\x07", field="comments")


def test_e_mail_addresses_follow_rfc_5321_lengths() -> None:
    local = "a" * 64
    assert normalise_email(f"{local}@example.com") == f"{local}@example.com"
    with pytest.raises(DomainError, match="before the @"):
        normalise_email(f"{local}a@example.com")
    long_domain = ".".join(["d" * 60] * 4) + ".com"  # 248 characters of domain
    with pytest.raises(DomainError, match="at most 254"):
        normalise_email(f"someone@{long_domain}")
    with pytest.raises(DomainError, match=r"like name@example\.com"):
        normalise_email("not an address")

"""Verification codes: 80 random bits, readable (no 0/O, 1/I), grouped in fours; typed any way, found the same."""

from __future__ import annotations

import math
import re

from shared.certificates.codes import ALPHABET, LENGTH, new_code, normalise_code


def test_a_code_is_eighty_random_bits_in_readable_groups() -> None:
    assert len(set(ALPHABET)) == 32 and not set("01IO") & set(ALPHABET)
    assert LENGTH * math.log2(len(ALPHABET)) >= 80
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}", code), code
    used = set("".join(codes).replace("-", ""))
    assert used == set(ALPHABET)  # every symbol turns up: the draw is over the whole alphabet


def test_typed_codes_are_normalised_and_impossible_ones_refused() -> None:
    code = new_code()
    plain = code.replace("-", "")
    for typed in (
        code,
        code.lower(),
        plain,
        f"  {plain.lower()} ",
        " ".join(code.split("-")),
        f"{plain[:8]}-{plain[8:]}",
    ):
        assert normalise_code(typed) == code, typed
    for wrong in (
        "",
        "ABCD-EFGH-JKLM",
        f"{code}-ABCD",
        "ABCD-EFGH-JKLM-NPQ0",
        "ABCD-EFGH-JKLM-NPQI",
        "../../etc/passwd",
    ):
        assert normalise_code(wrong) is None, wrong

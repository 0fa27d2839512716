"""DC-09 keys entered as hex digits or typed characters."""

from __future__ import annotations

import pytest

from shared.dc09_keys import InvalidKeyError, format_dc09_key, parse_dc09_key


@pytest.mark.parametrize("size", [16, 24, 32])
def test_hex_and_ascii_keys_of_every_size(size: int) -> None:
    raw = bytes(range(size))
    assert parse_dc09_key(raw.hex().upper(), "hex") == raw
    assert parse_dc09_key(raw.hex(), "hex") == raw
    typed = "K" * size
    assert parse_dc09_key(typed, "ascii") == typed.encode()
    assert format_dc09_key(raw, "hex") == raw.hex().upper()
    assert format_dc09_key(typed.encode(), "ascii") == typed


@pytest.mark.parametrize(
    ("text", "fmt", "reason"),
    [
        ("00" * 15, "hex", "32, 48 or 64"),
        ("zz" * 16, "hex", "0-9 and A-F"),
        ("short", "ascii", "16, 24 or 32"),
        ("é" * 16, "ascii", "printable ASCII"),
        ("00" * 16, "base64", "'hex' or 'ascii'"),
    ],
)
def test_bad_keys_say_why(text: str, fmt: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason):
        parse_dc09_key(text, fmt)

"""Verification codes: random, unguessable, easy to read aloud and type (no 0/O or 1/I), grouped in fours."""

from __future__ import annotations

import secrets
from typing import Final

# 32 symbols: the digits and capitals without 0, 1, I and O, which people confuse. 16 of them are 80 random bits.
ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH: Final = 16
GROUP: Final = 4


def new_code() -> str:
    """A fresh code like 7KQM-X3TA-9WCE-HN2R (from the operating system's random source)."""
    return _grouped("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def normalise_code(text: str) -> str | None:
    """The code as stored, from what someone typed: case, spaces and dashes do not matter. None when it cannot be
    a code at all (wrong length, a symbol never used), so no lookup is made for it."""
    plain = "".join(char for char in text.upper() if char not in " -\t")
    if len(plain) != LENGTH or any(char not in ALPHABET for char in plain):
        return None
    return _grouped(plain)


def _grouped(plain: str) -> str:
    return "-".join(plain[start : start + GROUP] for start in range(0, len(plain), GROUP))

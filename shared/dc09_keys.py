"""DC-09 AES keys as staff enter them: hex digits, or the 16/24/32 typed characters some panels (Ajax) use."""

from __future__ import annotations

import re
from enum import StrEnum

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
KEY_SIZES = (16, 24, 32)


class KeyFormat(StrEnum):
    HEX = "hex"
    ASCII = "ascii"


class InvalidKeyError(ValueError):
    """The key text does not make a 128-, 192- or 256-bit AES key in the given format."""


def parse_dc09_key(text: str, key_format: str) -> bytes:
    """The key bytes for `text` entered as `key_format`; raises InvalidKeyError with a reason a user can act on."""
    try:
        fmt = KeyFormat(key_format)
    except ValueError:
        raise InvalidKeyError("key format must be 'hex' or 'ascii'") from None
    if fmt is KeyFormat.HEX:
        digits = text.strip().replace(" ", "")
        if not _HEX.match(digits):
            raise InvalidKeyError("a hex key may contain only the digits 0-9 and A-F")
        if len(digits) not in (2 * n for n in KEY_SIZES):
            raise InvalidKeyError(f"a hex key has 32, 48 or 64 digits, not {len(digits)}")
        return bytes.fromhex(digits)
    if not text.isascii() or not text.isprintable():
        raise InvalidKeyError("a typed key may contain only printable ASCII characters")
    if len(text) not in KEY_SIZES:
        raise InvalidKeyError(f"a typed key has 16, 24 or 32 characters, not {len(text)}")
    return text.encode("ascii")


def format_dc09_key(key: bytes, key_format: str) -> str:
    """The key as it was entered, for showing to staff."""
    return key.decode("ascii") if key_format == KeyFormat.ASCII else key.hex().upper()

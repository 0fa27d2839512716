"""DC-09 wire primitives shared by decoder and encoders: frame wrapping, timestamps, AES-CBC and pad."""

from __future__ import annotations

import binascii
import os
import re
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from receiver.dc09.crc import crc16_arc

KEY_SIZES = (16, 24, 32)
MAX_BODY_LENGTH = 0xFFF  # "0LLL": three hex digits of length

_ZERO_IV = bytes(16)

# The timestamp that closes a message: "_HH:MM:SS,MM-DD-YYYY", in GMT.
TIMESTAMP_PATTERN = rb"""
    _?                          # underscore (a few panels leave it out)
    (?P<timestamp>
        [0-9]{2}:[0-9]{2}:[0-9]{2}  # HH:MM:SS
        ,
        [0-9]{2}-[0-9]{2}-[0-9]{4}  # MM-DD-YYYY (month first)
    )
"""

# What follows the data block's opening '[' once decrypted: "data]" + x-data blocks + timestamp.
CONTENT = re.compile(
    rb"""
    (?P<data>[^\]]*)\]                  # the data block, up to its closing bracket
    (?P<extended>(?:\[[^\]]*\])*)       # zero or more extended-data blocks: [X...][H...]
    (?:"""
    + TIMESTAMP_PATTERN
    + rb""")?                            # optional for plain messages, required when encrypted
    \Z
    """,
    re.VERBOSE,
)

# Pad bytes must avoid '|', '[' and ']'; any other byte is allowed. The receiver sends ASCII
# letters and digits only, in case a panel's firmware handles its buffers as C strings.
_PAD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_PAD_TABLE = bytes(_PAD_ALPHABET[i % len(_PAD_ALPHABET)] for i in range(256))
_FORBIDDEN_PAD = frozenset(b"|[]")


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> bytes:
    """The DC-09 timestamp field for ``moment``: ``_HH:MM:SS,MM-DD-YYYY`` in GMT."""
    t = utc(moment)
    return (f"_{t.hour:02d}:{t.minute:02d}:{t.second:02d},{t.month:02d}-{t.day:02d}-{t.year:04d}").encode("ascii")


@lru_cache(maxsize=64)
def parse_timestamp(field: bytes) -> datetime | None:
    """The UTC datetime of a ``HH:MM:SS,MM-DD-YYYY`` field, or None when not a real date/time.

    Cached: at thousands of frames a second most frames share their second with others.
    """
    try:
        return datetime(
            int(field[15:19]), int(field[9:11]), int(field[12:14]),
            int(field[0:2]), int(field[3:5]), int(field[6:8]),
            tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None


def timestamp_from_match(match: re.Match[bytes]) -> datetime | None:
    """The timestamp of a CONTENT match, or None when absent or not a real date/time."""
    field = match["timestamp"]
    return None if field is None else parse_timestamp(field)


def wrap(body: bytes, *, crc_binary: bool = False) -> bytes:
    """Frame ``body`` (from the ID's opening quote): LF, CRC, 0LLL, body, CR."""
    if len(body) > MAX_BODY_LENGTH:
        raise ValueError(f"DC-09 body of {len(body)} bytes exceeds {MAX_BODY_LENGTH}")
    crc = crc16_arc(body)
    crc_field = crc.to_bytes(2, "big") if crc_binary else b"%04X" % crc
    return b"\n" + crc_field + b"0%03X" % len(body) + body + b"\r"


@lru_cache(maxsize=4096)
def _block_ciphers(key: bytes) -> tuple[CipherContext, CipherContext]:
    """One AES block encryptor and decryptor per account key, kept for the process's life.

    DC-09's CBC always starts from a zero IV, so a fresh CBC context would be needed per message, and building
    one costs more than the AES itself. ECB contexts carry no state between whole blocks, so they are reused
    and the CBC chaining is done here: P_i = D(C_i) xor C_(i-1), C_i = E(P_i xor C_(i-1)), C_(-1) = IV = 0.
    """
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - ECB per block; the CBC chaining is below
    return cipher.encryptor(), cipher.decryptor()


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(len(left), "big")


_PAD_POOL = bytearray()


def _random_pad(length: int) -> bytes:
    """Random pad characters from a pool refilled 4 KiB at a time (one getrandom call per ~270 answers)."""
    if len(_PAD_POOL) < length:
        _PAD_POOL.extend(os.urandom(4096).translate(_PAD_TABLE))
    pad = bytes(_PAD_POOL[-length:])
    del _PAD_POOL[-length:]
    return pad


def make_pad(length: int, pad: bytes | None = None) -> bytes:
    """``length`` pad bytes: ``pad``'s first bytes when given (tests), otherwise random."""
    if pad is None:
        return _random_pad(length)
    if len(pad) < length:
        raise ValueError(f"pad of {len(pad)} bytes given, {length} needed")
    if _FORBIDDEN_PAD.intersection(pad[:length]):
        raise ValueError("pad must not contain '|', '[' or ']'")
    return pad[:length]


def encrypt_region(key: bytes, region: bytes, pad: bytes | None = None) -> bytes:
    """Hex (upper case) of AES-CBC(pad + '|' + region), the pad making it a multiple of 16 (1..16)."""
    if len(key) not in KEY_SIZES:
        raise ValueError(f"AES key must be 16, 24 or 32 bytes, not {len(key)}")
    plaintext = make_pad(16 - (len(region) + 1) % 16, pad) + b"|" + region
    encrypt_block = _block_ciphers(key)[0].update
    previous, blocks = _ZERO_IV, []
    for start in range(0, len(plaintext), 16):
        previous = encrypt_block(_xor(plaintext[start : start + 16], previous))
        blocks.append(previous)
    return binascii.hexlify(b"".join(blocks)).upper()


def decrypt_region(key: bytes, region: bytes) -> bytes | None:
    """The plaintext of a hex AES-CBC region (either case), or None when it is not such a region."""
    if not region or len(region) % 32:
        return None
    try:
        ciphertext = binascii.unhexlify(region)
    except (binascii.Error, ValueError):
        return None
    return _xor(_block_ciphers(key)[1].update(ciphertext), _ZERO_IV + ciphertext[:-16])


def strip_pad(plaintext_data: bytes) -> bytes | None:
    """The data after the pad and its '|' terminator, or None when no pad can be found.

    Hikvision hubs send the pad without its '|' (e.g. "ppppppppppp]_18:24:52,07-05-2020"),
    which is accepted when nothing but pad (at most 16 bytes) precedes the ']'.
    """
    bar = plaintext_data.find(b"|", 0, 17)
    if bar >= 0:
        return plaintext_data[bar + 1 :]
    if len(plaintext_data) <= 16:
        return b""
    return None


def text(raw: bytes) -> str:
    """Decode panel text: ASCII, else UTF-8, else Windows-1252 (allowed in x-data by DC-09)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")

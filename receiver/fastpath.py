"""The compiled fast path for the common DC-09 frame, with the pure-Python codec as its reference and fallback.

`receiver/_fastpath.c` turns the frames that make up nearly all real traffic (hex CRC; ADM-CID, SIA-DCS without
'|' text blocks or ti/da/pi modifiers, or NULL; plain or AES; a valid timestamp inside the window; ASCII or UTF-8
data and x-data; no relayed account) straight into the signals table's encoded rows (receiver/signal_rows.py's
layout) and the ACK; the x-data of a message that has some is typed by calling signal_rows.row_xdata. For anything
else — every error, every unusual case — `decode` returns None and the caller runs the reference codec
(receiver/dc09), which alone decides rejections. tests/receiver/test_fastpath.py checks that both give the same
rows and answers.

Without a C compiler or OpenSSL 3 headers the install skips the module (setup.py: optional): `AVAILABLE` is False,
everything takes the reference path, and the receiver says so in its log at start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType

from receiver.signal_rows import row_fragment, row_xdata

_fastpath: ModuleType | None
try:
    from receiver import _fastpath
except ImportError:  # pragma: no cover - built by `pip install` (setup.py); the reference codec still works
    _fastpath = None

AVAILABLE = _fastpath is not None

# (format letter, qualifier, code) -> row_fragment(...): filled by the C code on first sight of each code.
_FRAGMENTS: dict[str, tuple[str, bool, str]] = {}


def peek_account(frame: bytes) -> str | None:
    """The header's account when the frame has the common shape (CRC not yet checked), else None."""
    if _fastpath is None:
        return None
    account: str | None = _fastpath.peek_account(frame)
    return account


def decode(
    frame: bytes, key: bytes | None, now: datetime, enforce_window: bool, head: str
) -> tuple[list[str], bytes, bool] | None:
    """(rows, answer header, encrypted) for a frame of the common shape, or None: use the reference codec.

    ``key`` is the account's (None: no key), ``now`` the receiver's UTC time (the timestamp window and
    received_at), ``head`` the rows' first fields (signal_rows.row_head). A NULL gives no rows.
    """
    if _fastpath is None or now.tzinfo is not UTC:  # the C code reads the fields of a UTC datetime
        return None
    decoded: tuple[list[str], bytes, bool] | None = _fastpath.decode(
        frame, key, now, enforce_window, head, _FRAGMENTS, row_fragment, row_xdata
    )
    return decoded


def ack(answer_header: bytes, key: bytes | None, now: datetime | None) -> bytes:
    """The ACK for a frame `decode` accepted: plain, or encrypted with ``key`` and carrying ``now`` (UTC; only
    an encrypted ACK carries a time, so ``now`` may be None without a key)."""
    assert _fastpath is not None
    if key is not None and now is not None and now.tzinfo is not UTC:
        now = now.astimezone(UTC)
    frame: bytes = _fastpath.ack(answer_header, key, now)
    return frame

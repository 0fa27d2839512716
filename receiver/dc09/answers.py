"""The receiver's answers to a panel: ACK (encrypted when the message was), NAK and DUH."""

from __future__ import annotations

from datetime import datetime

from receiver.dc09.decode import NO_HEADER_ACCOUNT, NO_LINE_FIELD
from receiver.dc09.encode import encode_frame
from receiver.dc09.message import Envelope
from receiver.dc09.wire import format_timestamp, wrap

_NAK_BODY = b'"NAK"0000R0L0A0[]'


def ack(env: Envelope, key: bytes | None, now: datetime, pad: bytes | None = None) -> bytes:
    """``"ACK"seq[R][L]#acct[]`` (the header's fields exactly as sent), or for an encrypted message ``"*ACK"``
    with the encrypted ``pad|]_timestamp`` (the receiver's GMT ``now``). ``pad`` fixes the pad for tests."""
    if env.encrypted and key is None:
        raise ValueError("an encrypted message is acknowledged with the account's key")
    return encode_frame(
        "ACK",
        env.sequence,
        None if NO_HEADER_ACCOUNT in env.deviations else env.account,
        "",
        receiver=env.receiver,
        line=_line(env),
        timestamp=now if env.encrypted else None,
        key=key if env.encrypted else None,
        pad=pad,
        crc_binary=env.crc_binary,
    )


def nak(now: datetime, *, crc_binary: bool = False) -> bytes:
    """``"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY``: never encrypted, and carries the receiver's
    GMT time so the panel can set its clock. ``crc_binary`` mirrors a panel sending binary CRCs."""
    return wrap(_NAK_BODY + format_timestamp(now), crc_binary=crc_binary)


def duh(env: Envelope) -> bytes:
    """``"DUH"seq[R][L]#acct[]`` (as sent): the message was received intact but cannot be handled."""
    return encode_frame(
        "DUH",
        env.sequence,
        None if NO_HEADER_ACCOUNT in env.deviations else env.account,
        "",
        receiver=env.receiver,
        line=_line(env),
        crc_binary=env.crc_binary,
    )


def _line(env: Envelope) -> str | None:
    """The line field the answer echoes: None (no "L" at all) when the panel sent none, as it checks."""
    return None if NO_LINE_FIELD in env.deviations else env.line

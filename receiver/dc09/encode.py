"""The panel side of DC-09: building frames (simulator, benchmarks, tests) and reading the answers."""

from __future__ import annotations

from datetime import datetime

from receiver.dc09.decode import read_header
from receiver.dc09.message import Answer, Rejection, RejectReason
from receiver.dc09.wire import (
    CONTENT,
    KEY_SIZES,
    decrypt_region,
    encrypt_region,
    format_timestamp,
    strip_pad,
    timestamp_from_match,
    wrap,
)

_ANSWER_KINDS = {"ACK": "ack", "NAK": "nak", "DUH": "duh"}
_CID_QUALIFIERS = {"event": 1, "restore": 3, "status": 6}


def encode_frame(
    message_type: str,
    sequence: int | str,
    account: str | None,
    data: str,
    *,
    receiver: str | None = None,
    line: str | None = "0",
    extended: tuple[str, ...] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    pad: bytes | None = None,
    crc_binary: bool = False,
) -> bytes:
    """One complete frame, LF to CR; encrypted (``"*TYPE"``) when ``key`` is given.

    ``data`` is the data block's content without brackets (e.g. ``cid_data(...)``), ``extended``
    the x-data blocks' contents; ``line=None`` (``account=None``) leaves the "L" ("#acct") field out, as some
    panels do. Encrypted frames need ``timestamp``; ``pad`` fixes the pad bytes for byte-exact tests (random otherwise).
    """
    seq = f"{sequence % 10000:04d}" if isinstance(sequence, int) else sequence
    if len(seq) != 4 or not seq.isdigit():
        raise ValueError(f"sequence must be 4 digits, not {seq!r}")
    header = (
        f'"{"*" if key is not None else ""}{message_type}"{seq}'
        f"{'R' + receiver if receiver is not None else ''}{'L' + line if line is not None else ''}"
        f"{'#' + account if account is not None else ''}["
    ).encode("ascii")
    region = (
        data.encode("utf-8")
        + b"]"
        + b"".join(b"[" + block.encode("utf-8") + b"]" for block in extended)
        + (format_timestamp(timestamp) if timestamp is not None else b"")
    )
    if key is None:
        return wrap(header + region, crc_binary=crc_binary)
    if timestamp is None:
        raise ValueError("an encrypted DC-09 message needs a timestamp")
    return wrap(header + encrypt_region(key, region, pad), crc_binary=crc_binary)


def cid_data(account: str | None, qualifier: int | str, code: int | str, partition: int | str, zone: int | str) -> str:
    """A Contact ID data block: ``#acct|QEEE GG CCC``; ``qualifier`` 1/3/6 or event/restore/status."""
    q = _CID_QUALIFIERS.get(qualifier, qualifier) if isinstance(qualifier, str) else qualifier
    fields = f"{int(q)}{int(code):03d} {int(partition):02d} {int(zone):03d}"
    return fields if account is None else f"#{account}|{fields}"


def sia_data(
    account: str | None,
    code: str,
    zone: int | str | None = None,
    *,
    partition: int | str | None = None,
    user: int | str | None = None,
    text: str | None = None,
) -> str:
    """A SIA-DCS data block such as ``#acct|Nri1/id3/BA015^Hall^``."""
    parts = []
    if partition is not None:
        parts.append(f"ri{partition}")
    if user is not None:
        parts.append(f"id{user}")
    address = f"{zone:03d}" if isinstance(zone, int) else (zone or "")
    parts.append(f"{code}{address}" + (f"^{text}^" if text else ""))
    block = "N" + "/".join(parts)
    return block if account is None else f"#{account}|{block}"


def parse_answer(frame: bytes, key: bytes | None) -> Answer | Rejection:
    """Read a receiver's ACK, NAK or DUH (``key`` decrypts a ``*ACK``)."""
    checked = read_header(frame)
    if isinstance(checked, Rejection):
        return checked
    match, body, _ = checked
    kind = _ANSWER_KINDS.get(match["type"].decode("ascii"))
    if kind is None:
        return Rejection(RejectReason.UNSUPPORTED, "not an ACK, NAK or DUH", frame)
    encrypted = match["encrypted"] is not None
    region = body[match.end() :]
    if encrypted:
        if key is None or len(key) not in KEY_SIZES:
            return Rejection(RejectReason.NO_KEY, "encrypted answer and no usable key", frame)
        plaintext = decrypt_region(key, region)
        content = None if plaintext is None else CONTENT.match(plaintext)
        if content is None or strip_pad(content["data"]) is None:
            return Rejection(RejectReason.DECRYPT, "encrypted answer does not decrypt", frame)
    else:
        content = CONTENT.match(region)
        if content is None:
            return Rejection(RejectReason.MALFORMED, "answer's data block unreadable", frame)
    receiver, line, account = match["receiver"], match["line"], match["account"]
    return Answer(
        kind=kind,
        encrypted=encrypted,
        sequence=match["sequence"].decode("ascii"),
        receiver=receiver.decode("ascii") if receiver is not None else None,
        line=line.decode("ascii") if line is not None else "",  # "" also when an answer has no "L" at all
        account=account.decode("ascii") if account is not None else None,
        timestamp=timestamp_from_match(content),
        raw=frame,
    )

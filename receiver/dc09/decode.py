"""Decoding of one DC-09 frame: the envelope (no key needed), then the message (decrypt, window, events)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from receiver.dc09.content import decode_cid, decode_sia, split_account
from receiver.dc09.crc import crc16_arc
from receiver.dc09.message import Envelope, Event, Message, Rejection, RejectReason
from receiver.dc09.wire import (
    CONTENT,
    KEY_SIZES,
    decrypt_region,
    strip_pad,
    text,
    timestamp_from_match,
    utc,
)

# "RSP" is deliberately absent. In DC-09 it is the receiver's answer carrying data (e.g. an x-data [K...] key
# exchange "from CSR to PE"), sent in place of an ACK, never a message a panel originates: pysiaalarm's ResponseType
# {ACK, DUH, NAK, RSP} and its RSP_XDATA = ["K"]; Swissdotnet's sia-dc-09-library MessageType.RSP, "the RCT to SPT
# response message"; jvanovost/dc09_spt reads 'ACK', 'NAK', 'DUH' or 'RSP' as answers. So a frame that arrives
# with ID "RSP" is "an otherwise correctly received message" the receiver cannot process: DUH (DC-09 5.5.3.3),
# nothing stored. This receiver sends no RSP: it holds no key exchange or programming to answer with.
SUPPORTED_TYPES = frozenset({"ADM-CID", "SIA-DCS", "NULL"})
# Envelope.deviations word of a header without its "L" field; the answers then leave it out too.
NO_LINE_FIELD = "no_line_field"
# ... of a plain header without "#acct" whose data block names the account ("#acct|"); answers leave it out too.
NO_HEADER_ACCOUNT = "no_header_account"
# ... of an encrypted message padded with 17 bytes (found only once decrypted: on Message.envelope).
LONG_PAD = "long_pad"
DEFAULT_PAST = timedelta(seconds=40)
DEFAULT_FUTURE = timedelta(seconds=20)

# Bytes after the LF: the CRC and length fields, up to the body's opening quote.
_HEADER = re.compile(
    rb"""
    (?:
        (?P<crc>[0-9A-Fa-f]{4})         # CRC-16/ARC of the body, four hex digits (either case)
      | (?P<crc_binary>[\x00-\xff]{2})  # ... or two binary bytes, big-endian (Lupus, Jablotron)
    )
    0(?P<length>[0-9A-Fa-f]{3})         # '0' + the body's length in bytes, hex (either case)
    (?=")                               # the body starts with the ID's opening quote
    """,
    re.VERBOSE,
)

# The body up to the data block's opening bracket.
_BODY = re.compile(
    rb"""
    "(?P<encrypted>\*)?                 # opening quote; '*' marks an encrypted message
    (?P<type>[A-Za-z0-9-]{1,16})"       # ID token: SIA-DCS, ADM-CID, NULL, ACK, NAK, DUH ...
    (?P<sequence>[0-9]{4})              # sequence number, echoed verbatim in the answer
    (?:R(?P<receiver>[0-9A-Fa-f]{1,6}))?  # optional receiver number
    (?P<has_line>L(?P<line>[0-9A-Fa-f]{0,6}?))?  # account prefix (line): some panels send a bare "L", some
                                        # none at all (jvanovost/dc09_spt with no line set, Tellmon bridges)
    (?:
        \#(?P<account>[0-9A-Fa-f]{3,16})  # account number
      | (?P<no_account>A0)              # the fixed "A0" of a NAK, which names no account
    )?
    \[                                  # opening bracket of the data block
    """,
    re.VERBOSE,
)

_HEX_REGION = re.compile(rb"(?:[0-9A-Fa-f]{32})+")
_DATA_ACCOUNT = re.compile(rb"\#(?P<account>[0-9A-Fa-f]{3,16})\|")  # a plain data block's "#acct|"
_TRAILING_NOISE = b"\r\n\x00 \t"


def read_header(frame: bytes) -> tuple[re.Match[bytes], bytes, bool] | Rejection:
    """Check a frame's CRC and length: (body match, body, crc_binary), or a Rejection.

    ``frame`` may carry its LF and CR or not (UDP and MQTT payloads vary); trailing NULs and
    white space, which some panels append, are ignored.
    """
    end = len(frame.rstrip(_TRAILING_NOISE))
    start = 1 if frame[:1] == b"\n" else 0
    header = _HEADER.match(frame, start, end)
    if header is None:
        return Rejection(RejectReason.MALFORMED, "no CRC and length header", frame)
    body = frame[header.end() : end]
    declared = int(header["length"], 16)
    if declared != len(body):
        detail = f"length field says {declared} bytes, body has {len(body)}"
        return Rejection(RejectReason.LENGTH, detail, frame)
    crc_hex = header["crc"]
    sent = int(crc_hex, 16) if crc_hex is not None else int.from_bytes(header["crc_binary"], "big")
    computed = crc16_arc(body)
    if sent != computed:
        return Rejection(RejectReason.CRC, f"CRC field {sent:04X}, computed {computed:04X}", frame)
    match = _BODY.match(body)
    if match is None:
        return Rejection(RejectReason.MALFORMED, "ID, sequence, receiver, line or account unreadable", frame)
    return match, body, crc_hex is None


def uses_binary_crc(frame: bytes) -> bool:
    """Whether a frame (even a rejected one) carries a binary CRC, so its NAK should too."""
    header = _HEADER.match(frame, 1 if frame[:1] == b"\n" else 0)
    return header is not None and header["crc"] is None


def parse_envelope(frame: bytes) -> Envelope | Rejection:
    """Check one frame (CRC, length) and read its header fields; no key is needed yet."""
    checked = read_header(frame)
    if isinstance(checked, Rejection):
        return checked
    match, body, crc_binary = checked
    account = match["account"]
    encrypted = match["encrypted"] is not None
    content = body[match.end() :]
    header_account = account is not None
    if account is None:
        # "SIA-DCS"0001L[#9999|NBA2] (ioBroker.sia issue #4): no account in the header, the data block names it. A
        # plain message's block is readable, so that is unambiguous; an encrypted one needs the key first: refused.
        named = None if encrypted or match["no_account"] else _DATA_ACCOUNT.match(content)
        if named is None:
            return Rejection(RejectReason.MALFORMED, "no #account in the header", frame)
        account = named["account"]
    if encrypted and _HEX_REGION.fullmatch(content) is None:
        detail = "encrypted region is not hex in whole 16-byte blocks"
        return Rejection(RejectReason.MALFORMED, detail, frame)
    receiver, line = match["receiver"], match["line"]
    return Envelope(
        raw=frame,
        message_type=match["type"].decode("ascii"),
        encrypted=encrypted,
        sequence=match["sequence"].decode("ascii"),
        receiver=receiver.decode("ascii") if receiver is not None else None,
        line=line.decode("ascii") if line is not None else "",
        account=account.decode("ascii"),
        body=content,
        crc_binary=crc_binary,
        deviations=_deviations(match) if header_account else (*_deviations(match), NO_HEADER_ACCOUNT),
    )


def _deviations(match: re.Match[bytes]) -> tuple[str, ...]:
    """The words for what a readable header does outside DC-09 (answers mirror each as sent)."""
    found: tuple[str, ...] = ()
    if match["has_line"] is None:
        found += (NO_LINE_FIELD,)
    for word, group in (
        ("lowercase_account", "account"),
        ("lowercase_receiver", "receiver"),
        ("lowercase_line", "line"),
    ):
        value = match[group]
        if value is not None and value != value.upper():
            found += (word,)
    return found


def is_supported(env: Envelope) -> bool:
    """Whether this receiver handles the envelope's message type (otherwise answer DUH)."""
    return env.message_type in SUPPORTED_TYPES


def open_message(
    env: Envelope,
    key: bytes | None,
    now: datetime,
    *,
    enforce_window: bool,
    past: timedelta = DEFAULT_PAST,
    future: timedelta = DEFAULT_FUTURE,
) -> Message | Rejection:
    """Decrypt (when encrypted), check the timestamp window and decode the events.

    ``key`` is the account's AES key, or None when the account has none: an encrypted message
    then gives NO_KEY, and a plain message for an account with a key gives UNENCRYPTED. The
    window (``past`` before to ``future`` after ``now``, whole seconds) is enforced for encrypted
    messages always and for plain ones when ``enforce_window``; unenforced, a missing or odd
    timestamp (panels on local time, drifting clocks) is accepted as it is.
    """
    if env.message_type not in SUPPORTED_TYPES:
        return Rejection(RejectReason.UNSUPPORTED, f"message type {env.message_type!r}", env.raw)
    if env.encrypted:
        if key is None:
            return Rejection(RejectReason.NO_KEY, f"encrypted message, account {env.account} has no key", env.raw)
        if len(key) not in KEY_SIZES:
            return Rejection(RejectReason.NO_KEY, f"account key is {len(key)} bytes, not 16/24/32", env.raw)
        plaintext = decrypt_region(key, env.body)
        content = CONTENT.match(plaintext) if plaintext is not None else None
        if content is None or content["timestamp"] is None:
            return Rejection(RejectReason.DECRYPT, "decrypted region is not DC-09 content (wrong key?)", env.raw)
        data_bytes = strip_pad(content["data"])
        if data_bytes is None and content["data"][17:18] == b"|":
            # 17 pad bytes: jvanovost/dc09_spt pads 2..17 bytes ("17 - (len + 21) % 16"). A first '|' at index 17
            # can be nothing else (a pad of 1..16 ends by 16), so it is accepted, marked on the message's envelope.
            data_bytes = content["data"][18:]
            env = replace(env, deviations=(*env.deviations, LONG_PAD))
        if data_bytes is None:
            return Rejection(RejectReason.DECRYPT, "no pad terminator in the decrypted region", env.raw)
    else:
        if key is not None:
            return Rejection(RejectReason.UNENCRYPTED, f"plain message, account {env.account} has a key", env.raw)
        content = CONTENT.match(env.body)
        if content is None:
            return Rejection(RejectReason.MALFORMED, "data block, x-data or timestamp unreadable", env.raw)
        data_bytes = content["data"]

    panel_time = timestamp_from_match(content)
    if env.encrypted or enforce_window:
        rejection = check_window(env, panel_time, now, past, future)
        if rejection is not None:
            return rejection

    data = text(data_bytes)
    data_account, rest = split_account(data, env.account)
    events: tuple[Event, ...]
    if env.message_type == "NULL":
        events = ()  # a link test; Hikvision adds a dummy "#0000|0000 00 000" block
    elif env.message_type == "ADM-CID":
        event = decode_cid(rest)
        if event is None:
            return Rejection(RejectReason.BAD_DATA, f"not a Contact ID event: {rest[:40]!r}", env.raw)
        events = (event,)
    else:
        events = decode_sia(rest)
        if not events:
            return Rejection(RejectReason.BAD_DATA, f"no SIA event code in {rest[:40]!r}", env.raw)
    extended = content["extended"]
    return Message(
        envelope=env,
        panel_time=panel_time,
        data=data,
        extended=tuple(text(block) for block in extended[1:-1].split(b"][")) if extended else (),
        events=events,
        data_account=data_account,
    )


def check_window(
    env: Envelope,
    panel_time: datetime | None,
    now: datetime,
    past: timedelta = DEFAULT_PAST,
    future: timedelta = DEFAULT_FUTURE,
) -> Rejection | None:
    """None when the panel's time is inside the accepted window around ``now``, else why not."""
    if panel_time is None:
        return Rejection(RejectReason.TIMESTAMP, "timestamp missing or not a valid date", env.raw)
    reference = utc(now).replace(microsecond=0)
    if reference - past <= panel_time <= reference + future:
        return None
    offset = int((panel_time - reference).total_seconds())
    detail = f"panel time {panel_time:%H:%M:%S %m-%d-%Y} is {offset:+d} s from the receiver's"
    return Rejection(RejectReason.TIMESTAMP, detail, env.raw)

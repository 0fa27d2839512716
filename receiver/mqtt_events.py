"""The MQTT JSON event (SPEC §3) as a DC-09 `Message`, and the JSON answer to it: pure, no I/O.

A gateway that already decoded its panel's event publishes
``{"account":"1234","format":"ADM-CID","code":"E130","zone":"15","partition":"1","seq":17,"time":"…Z"}``
on ``alarmhub/panels/1234/events``. It becomes a Message with a synthetic envelope (receiver and line empty,
the sequence from ``seq``, the payload as the raw frame), so the one pipeline stores it like any DC-09 signal —
and, because ``seq`` and ``time`` are part of the signal's identity, a redelivered event is stored once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from receiver.dc09 import Envelope, Event, Message, Rejection, RejectReason
from shared.catalogue import CONTACT_ID, SIA_DCS, lookup

MAX_EVENT_BYTES = 16 * 1024  # an event document is ~150 bytes; anything near this is not one
ACCOUNT = re.compile(r"[0-9A-Fa-f]{3,16}")  # as in a DC-09 header: 3 to 16 hex digits
_CONTACT_ID_CODE = re.compile(r"([ERP])([0-9A-Fa-f]{3})")  # E new event, R restore, P previous (status)
_SIA_CODE = re.compile(r"[A-Z]{2}")
_QUALIFIERS = {"E": "event", "R": "restore", "P": "status"}
_DIGITS = re.compile(r"[0-9]{1,16}")
_LARGEST_NUMBER = 10**16  # a number as JSON has the same bound as one given as a string of digits
_LARGEST_SEQUENCE = 9999  # DC-09's sequence numbers run 0001-9999


@dataclass(frozen=True, slots=True)
class EventRejection:
    """A payload that is not a valid event: what to record, and the ``seq`` to echo in the NAK when known."""

    rejection: Rejection
    seq: int | None


def decode_event(payload: bytes, topic_account: str) -> Message | EventRejection:
    """Check one JSON event published under ``topic_account``; a Message to store, or why not."""
    seq: int | None = None

    def refuse(reason: RejectReason, detail: str) -> EventRejection:
        return EventRejection(Rejection(reason, detail, payload), seq)

    if len(payload) > MAX_EVENT_BYTES:
        return refuse(RejectReason.TOO_LONG, f"event of {len(payload)} bytes, at most {MAX_EVENT_BYTES}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        return refuse(RejectReason.MALFORMED, f"not JSON: {error}")
    if not isinstance(document, dict):
        return refuse(RejectReason.MALFORMED, "not a JSON object")
    raw_seq = document.get("seq")
    seq = _number(raw_seq)
    if seq is None or seq > _LARGEST_SEQUENCE:
        seq = None
        return refuse(RejectReason.MALFORMED, f"seq must be an integer from 0 to 9999, got {raw_seq!r:.40}")
    account = document.get("account")
    if not isinstance(account, str) or ACCOUNT.fullmatch(account) is None:
        return refuse(RejectReason.MALFORMED, f"account must be 3-16 hex digits, got {account!r:.40}")
    if account.upper() != topic_account.upper():
        return refuse(RejectReason.MALFORMED, f"account {account} does not match the topic's {topic_account:.40}")
    panel_time = _timestamp(document.get("time"))
    if panel_time is None:
        return refuse(RejectReason.TIMESTAMP, f"time must be ISO 8601 with a zone, got {document.get('time')!r:.60}")
    event = _event(document)
    if isinstance(event, tuple):
        return refuse(*event)
    envelope = Envelope(
        raw=payload,
        message_type=event.format,
        encrypted=False,
        sequence=f"{seq:04d}",
        receiver="",
        line="",
        account=account,
        body=b"",
    )
    return Message(envelope=envelope, panel_time=panel_time, data="", extended=(), events=(event,), data_account=None)


def _event(document: dict[str, object]) -> Event | tuple[RejectReason, str]:
    format, code = document.get("format"), document.get("code")
    fields = [_field(document.get(name)) for name in ("zone", "partition", "user")]
    if any(isinstance(value, Rejection) for value in fields):
        return RejectReason.MALFORMED, "zone, partition and user must be digits (at most 16)"
    zone, partition, user = (value if isinstance(value, str) else None for value in fields)
    if format == CONTACT_ID:
        match = _CONTACT_ID_CODE.fullmatch(code) if isinstance(code, str) else None
        if match is None:
            return RejectReason.BAD_DATA, f"Contact ID code must be E, R or P and 3 digits, got {code!r:.40}"
        letter, number = match.groups()
        if lookup(CONTACT_ID, number.upper()) is None:
            return RejectReason.BAD_DATA, f"unknown Contact ID event code {number}"
        if (zone and len(zone) > 3) or (partition and len(partition) > 2):
            return RejectReason.BAD_DATA, "Contact ID zone or user has at most 3 digits, partition at most 2"
        # Contact ID's fields are fixed-width: store them as a panel's DC-09 frame would carry them.
        return Event(
            format=CONTACT_ID,
            code=number.upper(),
            qualifier=_QUALIFIERS[letter],
            zone_or_user=zone.zfill(3) if zone is not None else None,
            partition=partition.zfill(2) if partition is not None else None,
            user=user.zfill(3) if user is not None else None,
        )
    if format == SIA_DCS:
        if not isinstance(code, str) or _SIA_CODE.fullmatch(code) is None:
            return RejectReason.BAD_DATA, f"SIA DCS code must be two capital letters, got {code!r:.40}"
        if lookup(SIA_DCS, code) is None:
            return RejectReason.BAD_DATA, f"unknown SIA DCS event code {code}"
        return Event(format=SIA_DCS, code=code, qualifier="event", zone_or_user=zone, partition=partition, user=user)
    return RejectReason.UNSUPPORTED, f"format must be {CONTACT_ID} or {SIA_DCS}, got {format!r:.40}"


def _number(value: object) -> int | None:
    """A non-negative integer given as a JSON number or a string of digits (at most 16 digits either way)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < _LARGEST_NUMBER else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _field(value: object) -> str | Rejection | None:
    """A zone, partition or user: digits as a string or a number; None when absent; a Rejection when invalid."""
    if value is None or value == "":
        return None
    number = _number(value)
    if number is None:
        return Rejection(RejectReason.MALFORMED, "not digits", b"")
    return value if isinstance(value, str) else str(number)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None  # a time without a zone is ambiguous, and it is part of the signal's identity
    return moment.astimezone(UTC)


def event_answer(seq: int | None, rejection: Rejection | None = None) -> bytes:
    """``{"seq":17,"status":"ack"}``, or ``{"seq":17,"status":"nak","reason":"…"}`` for a refused event."""
    if rejection is None:
        return json.dumps({"seq": seq, "status": "ack"}, separators=(",", ":")).encode()
    answer = {"seq": seq, "status": "nak", "reason": f"{rejection.reason.value}: {rejection.detail}"}
    return json.dumps(answer, separators=(",", ":")).encode()

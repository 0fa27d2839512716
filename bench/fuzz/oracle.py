"""The oracle: what the reference codec says each input gets, and whether an answer is that."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from bench.fuzz.plan import MAX_FRAME_LENGTH
from receiver.dc09 import Envelope, Rejection, RejectReason, open_message, parse_answer, parse_envelope, split_datagram
from receiver.dc09.decode import read_header
from receiver.ingest import MAX_EVENTS_PER_MESSAGE, Refused, choose_answer
from receiver.mqtt_events import EventRejection, decode_event


class Expected(NamedTuple):
    kind: str | None  # "ack", "nak", "duh", or None: no answer
    label: str | None  # the answer label alarmhub_receiver_frames_total counts it under (None: not counted there)
    reason: str | None  # the rejection recorded (metric and rejected_frames), None when accepted
    sequence: str | None = None  # what the answer echoes (None: not checked)
    key: bytes | None = None  # the key that decrypts an encrypted ACK


class Oracle:
    """The reference codec over the enrolled accounts: what the receiver must answer, and what it must record."""

    def __init__(self, directory: Mapping[str, bytes | None], max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self.directory = dict(directory)
        self.max_frame_length = max_frame_length

    def frame(self, item: bytes | Rejection) -> Expected:
        """One item of the frame splitter's output, as receiver.ingest.Ingestor.receive takes it."""
        if isinstance(item, Rejection):
            return self._refused(item, None)
        envelope = parse_envelope(item)
        if isinstance(envelope, Rejection):
            return self._refused(envelope, None)
        key = self.directory.get(envelope.account.upper())
        message = open_message(envelope, key, datetime.now(UTC), enforce_window=False)
        if isinstance(message, Rejection):
            return self._refused(message, envelope)
        if len(message.events) > MAX_EVENTS_PER_MESSAGE:
            return self._refused(Rejection(RejectReason.BAD_DATA, "too many events", item), envelope)
        return Expected("ack", "ack", None, envelope.sequence, key if envelope.encrypted else None)

    def dc09_payload(self, payload: bytes, topic_account: str) -> list[Expected]:
        """An MQTT payload on alarmhub/panels/<topic_account>/dc09 (receiver/transports/mqtt.py, docs/mqtt.md)."""
        if len(payload) > self.max_frame_length:
            return [Expected("nak", "nak", RejectReason.TOO_LONG.value)]
        items = split_datagram(payload, self.max_frame_length) or [Rejection(RejectReason.GARBAGE, "empty", b"")]
        expected = []
        for item in items:
            if isinstance(item, bytes):
                envelope = parse_envelope(item)
                if isinstance(envelope, Envelope) and envelope.account.upper() != topic_account.upper():
                    expected.append(Expected("nak", "nak", RejectReason.MALFORMED.value))
                    continue
            expected.append(self.frame(item))
        return expected

    def event(self, payload: bytes, topic_account: str) -> list[Expected]:
        """An MQTT payload on alarmhub/panels/<topic_account>/events: a JSON answer, counted as a frame if refused."""
        decoded = decode_event(payload, topic_account)
        if isinstance(decoded, EventRejection):
            return [Expected("nak", "nak", decoded.rejection.reason.value, str(decoded.seq))]
        sequence = str(int(decoded.envelope.sequence))
        if self.directory.get(decoded.envelope.account.upper()) is not None:
            return [Expected("nak", "nak", RejectReason.UNENCRYPTED.value, sequence)]
        return [Expected("ack", None, None, sequence)]

    def _refused(self, rejection: Rejection, envelope: Envelope | None) -> Expected:
        answer = choose_answer(Refused(rejection, envelope), lambda: datetime.now(UTC))
        if answer is None:
            return Expected(None, "none", rejection.reason.value)
        kind = read_answer(answer)
        assert kind is not None, answer
        sequence = envelope.sequence if envelope is not None and kind[0] == "duh" else None
        return Expected(kind[0], kind[0], rejection.reason.value, sequence)


ANSWER_TYPES = {b"ACK": "ack", b"NAK": "nak", b"DUH": "duh"}


def read_answer(raw: bytes) -> tuple[str, str, bool] | None:
    """(kind, echoed sequence, encrypted) of a DC-09 answer frame or a JSON answer; None when unreadable."""
    if raw[:1] == b"{":
        try:
            document = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(document, dict) or document.get("status") not in ("ack", "nak"):
            return None
        return str(document["status"]), str(document.get("seq")), False
    checked = read_header(raw)
    if isinstance(checked, Rejection):
        return None
    match = checked[0]
    kind = ANSWER_TYPES.get(match["type"])
    if kind is None:
        return None
    return kind, match["sequence"].decode(), match["encrypted"] is not None


def answer_problem(raw: bytes, expected: Expected) -> str | None:
    """None when ``raw`` is the answer ``expected`` describes, otherwise what is wrong with it."""
    read = read_answer(raw)
    if read is None:
        return f"unreadable answer {raw[:80]!r}"
    kind, sequence, encrypted = read
    if kind != expected.kind:
        return f"{kind} where {expected.kind} was expected ({expected.reason or 'accepted'})"
    if expected.sequence is not None and sequence != expected.sequence:
        return f"{kind} echoes sequence {sequence}, not {expected.sequence}"
    if kind == "ack" and raw[:1] != b"{":
        if encrypted != (expected.key is not None):
            return f"{'encrypted' if encrypted else 'plain'} ACK to a {'plain' if encrypted else 'encrypted'} frame"
        if encrypted and isinstance(parse_answer(raw, expected.key), Rejection):
            return "encrypted ACK does not decrypt with the account's key"
    return None

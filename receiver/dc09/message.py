"""The values the DC-09 codec produces: envelopes, messages, events, answers and typed rejections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RejectReason(StrEnum):
    """Why bytes could not be turned into a message; ``answer`` says what DC-09 sends back."""

    GARBAGE = "garbage"  # bytes outside any frame (before an LF)
    TOO_LONG = "too_long"  # a frame longer than the splitter's limit
    CRC = "crc"  # the CRC field does not match the frame
    LENGTH = "length"  # the 0LLL field does not match the frame
    MALFORMED = "malformed"  # the frame's header or structure does not follow DC-09
    TIMESTAMP = "timestamp"  # timestamp missing where required, or outside the window
    NO_KEY = "no_key"  # an encrypted message for an account without a key
    DECRYPT = "decrypt"  # the encrypted region does not decrypt to a DC-09 plaintext (wrong key)
    UNENCRYPTED = "unencrypted"  # a plain message for an account that has a key
    UNSUPPORTED = "unsupported"  # a well-formed message of a type this receiver does not handle
    BAD_DATA = "bad_data"  # a well-formed message whose data block holds no decodable event

    @property
    def answer(self) -> str | None:
        """``"nak"``, ``"duh"``, or ``None`` when nothing should be sent (not a frame at all)."""
        if self is RejectReason.GARBAGE:
            return None
        if self in (RejectReason.UNSUPPORTED, RejectReason.BAD_DATA):
            # DUH: "unable to process an otherwise correctly received message"; a NAK would
            # only make the panel send the same thing again.
            return "duh"
        return "nak"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input the codec could not accept; ``raw`` holds the offending bytes (bounded)."""

    reason: RejectReason
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A frame whose CRC, length and header checked out; the data may still be encrypted.

    ``raw`` is the frame as the panel sent it, ``body`` the bytes after the header's ``[``
    (hex ciphertext when ``encrypted``). ``crc_binary`` marks panels that send the CRC as two
    binary bytes instead of four hex digits; answers mirror it.
    """

    raw: bytes
    message_type: str
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str
    account: str
    body: bytes
    crc_binary: bool = False
    # How the frame departs from DC-09 where it is still unambiguous (e.g. "no_line_field"), one word each; the
    # receiver counts them (metrics.TOLERATED) and answers in the frame's own shape.
    deviations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a message.

    ``zone_or_user`` is the address field as sent (Contact ID's CCC, the digits after a SIA
    code): whether it names a zone or a user depends on the event code, which the catalogue
    knows — see ``zone_and_user``. ``user`` is set only from an explicit SIA ``id`` modifier.
    """

    format: str  # "ADM-CID" or "SIA-DCS"
    code: str  # "130" (Contact ID event code) or "BA" (SIA code)
    qualifier: str  # "event", "restore" or "status" (Contact ID Q=1/3/6); always "event" for SIA
    zone_or_user: str | None
    partition: str | None
    user: str | None = None
    text: str | None = None
    # SIA-DCS modifiers without a column of their own, decoded (content.decode_sia): "ti" as "HH:MM" or "HH:MM:SS",
    # "da" as an ISO date "YYYY-MM-DD", "pi" (peripheral) as sent. None when absent or unreadable.
    time: str | None = None
    date: str | None = None
    peripheral: str | None = None

    def zone_and_user(self, address_is_user: bool) -> tuple[str | None, str | None]:
        """Split the address into (zone, user), given the catalogue's word on this code."""
        if address_is_user:
            return None, self.zone_or_user if self.zone_or_user is not None else self.user
        return self.zone_or_user, self.user


@dataclass(frozen=True, slots=True)
class Message:
    """A decrypted, decoded DC-09 message of a supported type."""

    envelope: Envelope
    panel_time: datetime | None  # UTC-aware; None when absent (or unreadable and not enforced)
    data: str  # the data block's content, e.g. "#1234|1130 01 015"
    extended: tuple[str, ...]  # the x-data blocks' contents, e.g. ("X115000", "RLivingRoom")
    events: tuple[Event, ...]  # empty for NULL (link test)
    data_account: str | None  # the "#acct" inside the data block, when present


@dataclass(frozen=True, slots=True)
class Answer:
    """A receiver's answer as the panel side decodes it."""

    kind: str  # "ack", "nak" or "duh"
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str
    account: str | None  # None for NAK, which carries no account
    timestamp: datetime | None
    raw: bytes

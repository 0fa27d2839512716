"""The pure SIA DC-09 codec: bytes in, frozen dataclasses out; no I/O, no clock, no logging."""

from receiver.dc09.answers import ack, duh, nak
from receiver.dc09.crc import crc16_arc
from receiver.dc09.decode import (
    DEFAULT_FUTURE,
    DEFAULT_PAST,
    SUPPORTED_TYPES,
    check_window,
    is_supported,
    open_message,
    parse_envelope,
    uses_binary_crc,
)
from receiver.dc09.encode import cid_data, encode_frame, parse_answer, sia_data
from receiver.dc09.framing import FrameSplitter, split_datagram
from receiver.dc09.message import Answer, Envelope, Event, Message, Rejection, RejectReason

__all__ = [
    "DEFAULT_FUTURE",
    "DEFAULT_PAST",
    "SUPPORTED_TYPES",
    "Answer",
    "Envelope",
    "Event",
    "FrameSplitter",
    "Message",
    "RejectReason",
    "Rejection",
    "ack",
    "check_window",
    "cid_data",
    "crc16_arc",
    "duh",
    "encode_frame",
    "is_supported",
    "nak",
    "open_message",
    "parse_answer",
    "parse_envelope",
    "sia_data",
    "split_datagram",
    "uses_binary_crc",
]

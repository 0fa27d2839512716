"""Fuzzing the running receiver: mutated and random DC-09 frames over TCP and UDP, and MQTT payloads.

    python -m bench.fuzz [--frames 1000000] [--seed 1] [--write]

A real `alarmhub receiver` process runs on a fresh database (ALARMHUB_BENCH_DATABASE_URL or
ALARMHUB_TEST_DATABASE_URL, otherwise an embedded PostgreSQL) and a Mosquitto of the run's own (see own_mosquitto;
--broker names another, one no other receiver uses). Plain and AES panels (128, 192 and 256-bit keys) are enrolled,
and the fuzzer sends valid frames of many shapes (Contact ID, SIA DCS with modifiers, texts and x-data, NULL, binary
CRCs, the tolerated header deviations, AES) — mutated (bit flips, insertions, deletions, truncation, a wrong length
or CRC, random or non-ASCII bytes in the data block with the CRC made right again, frames over the length limit,
wrong keys, garbled ciphertext, stale timestamps, frames run together) — and random bytes: over several TCP
connections (reconnecting when the receiver closes one), over UDP, and as MQTT payloads (DC-09 frames and JSON
events) on the receiver's topics. Every few hundred inputs (FuzzPlan.canary_every) a session sends a known-good
frame, which must be acknowledged and stored. Inputs are deterministic for a --seed: each session draws from its own
generator (the timestamps excepted).

What each input must get comes from an oracle: the receiver's reference codec (receiver/dc09: the frame splitter,
parse_envelope, open_message, and receiver/ingest.py's choose_answer, "the one place" that picks the answer) over
the enrolled accounts — the code that alone decides rejections. So the run checks that the running process (the
compiled fast path, TCP reads cut anywhere, UDP, MQTT, the batch writer, ACK after commit) answers every input as
the reference says, in order on TCP and MQTT, with answers that echo the frame's sequence and decrypt with its key.
Inputs whose answer DC-09 fixes whatever a codec says (a wrong CRC or length, a frame over the limit: NAK; an
unsupported type: DUH; bytes without an LF: silence; a valid frame: ACK) hold the oracle itself to the spec. TCP
connections left with half a frame (FuzzPlan.stall_every) must be cut after `receiver.frame_timeout` without an
answer, and no connection may be cut before a begun frame has waited that long. At the end: the process is alive and
logged no error, its RSS grew by less than the allowance after a warm-up, the metrics and the rejected_frames table
count exactly the rejections the oracle predicted (by transport and reason), and every acknowledged known-good frame
is in signals.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import paho.mqtt.client as paho
from prometheus_client.parser import text_string_to_metric_families

from bench.ingest import (
    REPO,
    free_port,
    machine,
    migrated_database,
    run_benchmark,
    server_url,
    wait_for_port,
    write_results,
)
from bench.ingest_mqtt import wait_subscribed
from receiver.dc09 import (
    Envelope,
    FrameSplitter,
    Rejection,
    RejectReason,
    cid_data,
    encode_frame,
    open_message,
    parse_answer,
    parse_envelope,
    split_datagram,
)
from receiver.dc09.decode import read_header
from receiver.dc09.wire import KEY_SIZES, wrap
from receiver.ingest import MAX_EVENTS_PER_MESSAGE, Refused, choose_answer
from receiver.mqtt_events import EventRejection, decode_event
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.transports.mqtt import TOPIC_ROOT, MqttSettings, ack_topic, connect_client, on_each_message, paho_client

MAX_FRAME_LENGTH = 1024  # receiver.max_frame_length, left at its default
# The receiver's timers run on uvloop's clock, cached per loop iteration and in whole milliseconds: a cut "after
# frame_timeout" comes up to a few milliseconds early by the fuzzer's clock (0.9995 s for 1 s, measured).
TIMER_SLACK = 0.02
MIB = 1024 * 1024

# -- the panels


@dataclass(frozen=True, slots=True)
class Panel:
    account: str  # as the fuzzer spells it (an MQTT topic may use lower case, or no account at all)
    key: bytes | None = None
    enrolled: bool = True


def _key(account: str, size: int) -> bytes:
    return hashlib.sha256(account.encode()).digest()[:size]


FUZZ_PANELS = (
    Panel("F2000001"),
    Panel("F2000002"),
    Panel("F2000011", _key("F2000011", 16)),
    Panel("F2000012", _key("F2000012", 24)),
    Panel("F2000013", _key("F2000013", 32)),
    Panel("F2000FFF", enrolled=False),  # plain frames are stored as "account unknown"; encrypted ones refused
    Panel("F2000ABC", enrolled=False),
)
CANARY_PANELS = (Panel("CA000001"), Panel("CA000002", _key("CA000002", 16)))
# One MQTT session per topic account: its answers come on that account's ack topic.
MQTT_PANELS = (
    Panel("F3000001"),
    Panel("F3000011", _key("F3000011", 16)),
    Panel("F3000FFF", enrolled=False),
    Panel("f3000002"),  # enrolled as F3000002; the topic spells it in lower case
    Panel("F3000012", _key("F3000012", 32)),
    Panel("", enrolled=False),  # alarmhub/panels//dc09: a topic that names no account
    Panel("F3000003"),
    Panel("F3000FFE", enrolled=False),
)


def enrolled_keys() -> dict[str, bytes | None]:
    """Every enrolled account (upper case, as the directory holds it) and its key."""
    panels = (*FUZZ_PANELS, *CANARY_PANELS, *MQTT_PANELS)
    return {panel.account.upper(): panel.key for panel in panels if panel.enrolled}


# -- what is sent: valid frames of many shapes, mutated, and random bytes (pure, seeded)


class Unit(NamedTuple):
    """One fuzz input: the bytes sent in one write, datagram or publish."""

    data: bytes
    mutation: str
    # The answer kinds DC-09 fixes for this input sent alone, whatever a codec says; None: not fixed.
    intent: tuple[str, ...] | None


class Base(NamedTuple):
    """A frame before mutation: its body (from the ID's quote to before the CR) and what it should get."""

    body: bytes
    binary: bool  # the CRC as two binary bytes
    intent: str  # "ack", "nak" or "duh"
    encrypted: bool

    @property
    def frame(self) -> bytes:
        return wrap(self.body, crc_binary=self.binary)

    @property
    def crc_size(self) -> int:
        return 2 if self.binary else 4


CID_CODES = ("130", "602", "401", "301", "110", "570", "380", "999", "000")
SIA_CODES = ("BA", "BR", "FA", "OP", "CL", "RP", "TA", "YT", "ZZ", "QQ")
TEXTS = ("Hall", "Front door", "Küche", "Garage 2", "Ωmega", "")
XDATA = (
    "X115.5E",
    "Y32.2S",
    "Z12m",
    "M0012AB34CD56",
    "Vhttps://example.com/v/1",
    "RLiving room",
    "LKüche",
    "SMain site",
    "H12:00:00,01-02-2026",
    "Kabc",
    "X999.99Q",
    "M00:11",
    "Vftp://x",
    "",
)
UNSUPPORTED_TYPES = ("RSP", "ACK", "NAK", "DUH", "ADM-XYZ", "SIA-DCX", "NOTHING")
ODD_TIMESTAMP = b"_99:99:99,13-45-2026"  # the timestamp's shape, not a date: an untimed plain message
PAD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class FrameFactory:
    """A seeded source of fuzz inputs. Timestamps are the run's clock; every other choice comes from ``rng``."""

    def __init__(self, rng: random.Random, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self.rng = rng
        self.max_frame_length = max_frame_length
        self._mutations: tuple[tuple[int, str, Callable[[Base, Panel], tuple[bytes, tuple[str, ...] | None]]], ...] = (
            (20, "none", self._unchanged),
            (8, "bit_flip", self._bit_flip),
            (6, "insert", self._insert),
            (6, "delete", self._delete),
            (6, "truncate", self._truncate),
            (6, "crc", self._wrong_crc),
            (5, "length", self._wrong_length),
            (2, "huge_length", self._huge_length),
            (3, "sequence", self._other_sequence),
            (8, "data_random", self._random_data),
            (4, "non_ascii", self._non_ascii),
            (4, "header_random", self._random_header),
            (5, "ciphertext", self._garbled_ciphertext),
            (3, "too_long", self._too_long),
            (3, "garbage_prefix", self._garbage_prefix),
            (2, "trailing_noise", self._trailing_noise),
            (3, "two_frames", self._two_frames),
            (2, "run_together", self._run_together),
            (5, "random_bytes", self._random_bytes),
            (2, "random_no_lf", self._random_without_lf),
            (1, "random_huge", self._random_huge),
            (3, "frame_like", self._frame_like),
        )
        self._mutation_weights = [weight for weight, _, _ in self._mutations]

    # -- inputs

    def stream_unit(self, panel: Panel, topic: Panel | None = None) -> Unit:
        """A TCP write, a UDP datagram, or (``topic`` given) an MQTT DC-09 payload: one base frame, mutated."""
        base = self.base(panel)
        _, name, mutate = self.rng.choices(self._mutations, self._mutation_weights)[0]
        data, intent = mutate(base, panel)
        if topic is not None and intent is not None and panel.account.upper() != topic.account.upper():
            intent = tuple("nak" for _ in intent)  # each frame names another account than the topic's
        if topic is not None and len(data) > self.max_frame_length:
            intent = ("nak",)  # an MQTT payload over the limit is one rejection
        return Unit(data, name, intent)

    def base(self, panel: Panel) -> Base:
        """A frame from ``panel``: mostly as its key says (encrypted when it has one), now and then not."""
        if (panel.key is not None) != (self.rng.random() < 0.15):
            return self._encrypted(panel)
        return self._plain(panel)

    def event_unit(self, topic: Panel) -> Unit:
        """An MQTT JSON event for ``topic``'s account, valid or mutated (docs/mqtt.md)."""
        rng = self.rng
        document = self._event(topic.account)
        valid = 3 <= len(topic.account) <= 16 and topic.key is None  # a keyed account refuses plain events
        roll = rng.random()
        if roll < 0.35:
            return Unit(_json(document), "event", ("ack",) if valid else ("nak",))
        if roll < 0.7:
            name, change = rng.choice(EVENT_FIELD_MUTATIONS)
            mutated, intent = change(dict(document), rng)
            return Unit(_json(mutated), f"event_{name}", intent)
        if roll < 0.85:
            data = bytearray(_json(document))
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            return Unit(bytes(data), "event_bit_flip", None)
        if roll < 0.95:
            return Unit(rng.randbytes(rng.randint(0, 200)), "event_random", ("nak",))
        return Unit(_json({**document, "pad": "x" * 17_000}), "event_huge", ("nak",))

    def canary(self, panel: Panel, line: str, number: int) -> bytes:
        """A known-good frame, a signal of its own: the session's line, a sequence that counts up, the time now."""
        return encode_frame(
            "ADM-CID",
            number % 10_000,
            panel.account,
            cid_data(panel.account, 1, "602", 0, number // 10_000 % 1000),
            receiver="1",
            line=line,
            timestamp=datetime.now(UTC),
            key=panel.key,
            pad=self._pad(),
        )

    # -- base frames

    def _plain(self, panel: Panel) -> Base:
        rng = self.rng
        in_data = rng.random() < 0.15  # no "#acct" in the header: the data block names the account
        account = self._spelling(panel.account)
        message_type, data, content = self._content(account if in_data or rng.random() < 0.3 else None)
        stamp = rng.random()
        now = datetime.now(UTC)
        binary = rng.random() < 0.1
        frame = encode_frame(
            message_type,
            rng.randint(0, 9999),
            None if in_data else account,
            data,
            receiver=rng.choice((None, "1", "12AB", "ff")),
            line=rng.choice((None, "", "1", "3F")),
            extended=tuple(rng.choice(XDATA) for _ in range(rng.choice((0, 0, 1, 3)))),
            timestamp=now if stamp < 0.5 else now - timedelta(hours=1) if stamp < 0.6 else None,
            crc_binary=binary,
        )
        base = _base(frame, binary, "nak" if panel.key is not None else content, encrypted=False)
        if content == "unsupported":
            base = base._replace(intent="duh")  # the type is checked first
        if stamp >= 0.9:
            base = base._replace(body=base.body + ODD_TIMESTAMP)
        return base

    def _encrypted(self, panel: Panel) -> Base:
        rng = self.rng
        right_key = panel.key is not None and rng.random() < 0.85
        key = panel.key if right_key and panel.key is not None else rng.randbytes(rng.choice(KEY_SIZES))
        skew = rng.choice((0, 0, 0, 0, 0, -300, 300))  # well outside the -40/+20 s window, or now
        account = self._spelling(panel.account)
        message_type, data, content = self._content(account if rng.random() < 0.5 else None)
        binary = rng.random() < 0.1
        frame = encode_frame(
            message_type,
            rng.randint(0, 9999),
            account,
            data,
            receiver=rng.choice((None, "1", "12AB")),
            line=rng.choice((None, "", "1")),
            extended=tuple(rng.choice(XDATA) for _ in range(rng.choice((0, 0, 1)))),
            timestamp=datetime.now(UTC) + timedelta(seconds=skew),
            key=key,
            pad=self._pad(),
            crc_binary=binary,
        )
        refused = not right_key or skew != 0
        intent = "duh" if content == "unsupported" else "nak" if refused else content
        return _base(frame, binary, intent, encrypted=True)

    def _content(self, data_account: str | None) -> tuple[str, str, str]:
        """(message type, data block, "ack" | "duh" | "unsupported") for a panel whose key is right."""
        rng = self.rng
        prefix = f"#{data_account}|" if data_account is not None else ""
        roll = rng.random()
        if roll < 0.06:
            return rng.choice(UNSUPPORTED_TYPES), prefix + "1130 01 001", "unsupported"
        if roll < 0.12:
            return "NULL", prefix, "ack"
        if roll < 0.16:
            bad = rng.choice((("ADM-CID", "9130 01 001"), ("ADM-CID", "1 13"), ("SIA-DCS", "Nri1/id2")))
            return bad[0], prefix + bad[1], "duh"
        if roll < 0.18:
            # Two-digit zones: even encrypted, the frame stays under max_frame_length.
            events = "/".join(f"BA{zone % 100:02d}" for zone in range(MAX_EVENTS_PER_MESSAGE + 1 + rng.randint(0, 3)))
            return "SIA-DCS", f"{prefix}N{events}", "duh"
        if roll < 0.55:
            qualifier, code = rng.choice((1, 3, 6)), rng.choice(CID_CODES)
            return "ADM-CID", cid_data(data_account, qualifier, code, rng.randint(0, 99), rng.randint(0, 999)), "ack"
        return "SIA-DCS", prefix + self._sia_block(), "ack"

    def _sia_block(self) -> str:
        rng = self.rng
        modifiers = (
            ("ri", 0.4, str(rng.randint(0, 99))),
            ("id", 0.3, str(rng.randint(0, 9999))),
            ("ti", 0.2, f"{rng.randint(0, 30):02d}:{rng.randint(0, 70):02d}"),  # now and then not a time of day
            ("da", 0.1, f"{rng.randint(1, 13):02d}-{rng.randint(1, 32):02d}-{rng.randint(0, 99):02d}"),
            ("pi", 0.1, str(rng.randint(0, 99))),
        )
        items = [name + value for name, chance, value in modifiers if rng.random() < chance]
        for _ in range(rng.randint(1, 4)):
            width = rng.randint(0, 4)
            event = rng.choice(SIA_CODES) + (f"{rng.randint(0, 10**width - 1):0{width}d}" if width else "")
            items.append(event + (f"^{rng.choice(TEXTS)}^" if rng.random() < 0.2 else ""))
        block = "N" + "/".join(items)
        return block + (f"|A{rng.choice(TEXTS)}" if rng.random() < 0.1 else "")

    def _spelling(self, account: str) -> str:
        return account.lower() if self.rng.random() < 0.1 else account

    def _pad(self) -> bytes:
        return bytes(self.rng.choice(PAD_ALPHABET) for _ in range(16))

    def _event(self, account: str) -> dict[str, object]:
        rng = self.rng
        sia = rng.random() < 0.5
        return {
            "account": account,
            "format": "SIA-DCS" if sia else "ADM-CID",
            "code": rng.choice(("BA", "RP", "OP", "CL")) if sia else rng.choice(("E130", "R130", "E602", "P401")),
            "zone": str(rng.randint(0, 999)),
            "partition": str(rng.randint(0, 99)),
            "seq": rng.randint(0, 9999),
            "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        }

    # -- mutations: (bytes, intent); an intent of (base.intent,) keeps what the frame gets unmutated

    def _unchanged(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return base.frame, (base.intent,)

    def _bit_flip(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        data = bytearray(base.frame)
        for _ in range(self.rng.randint(1, 3)):
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return bytes(data), None

    def _insert(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        frame, at = base.frame, self.rng.randrange(len(base.frame) + 1)
        return frame[:at] + self.rng.randbytes(self.rng.randint(1, 8)) + frame[at:], None

    def _delete(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        frame, at = base.frame, self.rng.randrange(len(base.frame))
        return frame[:at] + frame[at + self.rng.randint(1, 8) :], None

    def _truncate(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return base.frame[: self.rng.randrange(1, len(base.frame))], None

    def _wrong_crc(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        frame = base.frame
        if base.binary:
            return frame[:1] + self.rng.randbytes(2) + frame[3:], None  # may even be right by chance
        crc = (int(frame[1:5], 16) + self.rng.randint(1, 0xFFFE)) & 0xFFFF
        return frame[:1] + b"%04X" % crc + frame[5:], ("nak",)

    def _wrong_length(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        start = 1 + base.crc_size
        length = (len(base.body) + self.rng.randint(1, 0xFFE)) % 0x1000
        frame = base.frame
        return frame[:start] + b"0%03X" % length + frame[start + 4 :], None if base.binary else ("nak",)

    def _huge_length(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        start = 1 + base.crc_size
        field = self.rng.choice((b"0FFF", b"0fff", b"FFFF", b"1000"))
        frame = base.frame
        return frame[:start] + field + frame[start + 4 :], None if base.binary else ("nak",)

    def _other_sequence(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        at = base.body.index(b'"', 1) + 1  # after the ID's closing quote
        body = base.body[:at] + b"%04d" % self.rng.randint(0, 9999) + base.body[at + 4 :]
        return wrap(body, crc_binary=base.binary), (base.intent,)

    def _random_data(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        body, start = base.body, base.body.find(b"[") + 1
        end = len(body) if base.encrypted else body.find(b"]", start)
        noise = self.rng.randbytes(self.rng.randint(0, 120))
        return _rewrap(base, body[:start] + noise + body[end if end >= 0 else len(body) :]), None

    def _non_ascii(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        body = base.body
        at = self.rng.randint(body.find(b"[") + 1, len(body))
        high = self.rng.choice(("é".encode(), "€".encode(), b"\xff\xfe", b"\xc3", bytes([self.rng.randint(128, 255)])))
        return _rewrap(base, body[:at] + high + body[at:]), None

    def _random_header(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        body = bytearray(base.body)
        body[self.rng.randrange(body.find(b"[") + 1)] = self.rng.randint(0x20, 0x7E)
        return _rewrap(base, bytes(body)), None

    def _garbled_ciphertext(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        if not base.encrypted:
            return self._random_data(base, panel)
        start = base.body.find(b"[") + 1
        header, region = base.body[:start], bytearray(base.body[start:])
        how = self.rng.randrange(3)
        if how == 0:  # one hex digit changed: that block decrypts to noise
            at = self.rng.randrange(len(region))
            region[at] = b"0123456789ABCDEF"[(int(chr(region[at]), 16) + self.rng.randint(1, 15)) % 16]
            return _rewrap(base, header + bytes(region)), None
        if how == 1:  # not whole 16-byte blocks any more
            del region[-self.rng.randint(1, 31) :]
        else:  # not hex
            region[self.rng.randrange(len(region))] = self.rng.choice(b"GZz-_ *")
        return _rewrap(base, header + bytes(region)), ("nak",)

    def _too_long(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        at = base.body.find(b"[") + 1
        filler = b"A" * (self.max_frame_length - len(base.body) + self.rng.randint(1, 200))
        return _rewrap(base, base.body[:at] + filler + base.body[at:]), ("nak",)

    def _garbage_prefix(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        garbage = self.rng.randbytes(self.rng.randint(0, 100)).replace(b"\n", b"") + b"?"
        return garbage + base.frame, (base.intent,)

    def _trailing_noise(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return base.frame + self.rng.choice((b"\x00", b"\r", b" \t", b"\x00\x00\r")), (base.intent,)

    def _two_frames(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        other = self.base(panel)
        return base.frame + other.frame, _both(base, other)

    def _run_together(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        other = self.base(panel)
        return base.frame[:-1] + other.frame, _both(base, other)  # the first ends where the next LF starts

    def _random_bytes(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return self.rng.randbytes(self.rng.randint(1, 300)), None

    def _random_without_lf(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return self.rng.randbytes(self.rng.randint(0, 1500)).replace(b"\n", b"") + b"?", ()

    def _random_huge(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        return self.rng.randbytes(self.rng.randint(2000, 8000)), None

    def _frame_like(self, base: Base, panel: Panel) -> tuple[bytes, tuple[str, ...] | None]:
        rng = self.rng
        printable = bytes(rng.randint(0x20, 0x7E) for _ in range(rng.randint(5, 60)))
        header = b"%04X0%03X" % (rng.randint(0, 0xFFFF), rng.randint(0, 0xFFF))
        return b"\n" + header + b'"' + printable + b"\r", None


def _base(frame: bytes, binary: bool, intent: str, *, encrypted: bool) -> Base:
    """The Base of a frame encode_frame built (LF, CRC, 0LLL, body, CR)."""
    return Base(frame[(3 if binary else 5) + 4 : -1], binary, intent, encrypted)


def _rewrap(base: Base, body: bytes) -> bytes:
    """A new body framed with its right CRC and length, so that it reaches the decoder."""
    return wrap(body[:0xFFF], crc_binary=base.binary)


def _both(first: Base, second: Base) -> tuple[str, ...]:
    return (first.intent, second.intent)


def _json(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


EventChange = Callable[[dict[str, object], random.Random], tuple[dict[str, object], tuple[str, ...] | None]]


def _set(name: str, value: object) -> EventChange:
    def change(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
        document[name] = value
        return document, ("nak",)

    return change


def _drop(name: str) -> EventChange:
    def change(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
        document.pop(name, None)
        return document, ("nak",)

    return change


def _unknown_field(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
    document["note"] = [1, {"x": None}]
    return document, None  # ignored: the event stands or falls by its own fields


EVENT_FIELD_MUTATIONS: tuple[tuple[str, EventChange], ...] = (
    ("seq_over", _set("seq", 10_000)),
    ("seq_negative", _set("seq", -5)),
    ("seq_text", _set("seq", "12a")),
    ("seq_bool", _set("seq", True)),
    ("no_time", _drop("time")),
    ("time_without_zone", _set("time", "2026-01-01T00:00:00")),
    ("time_text", _set("time", "yesterday")),
    ("other_account", _set("account", "0BADBAD0")),
    ("format", _set("format", "SIA-XYZ")),
    ("short_code", _set("code", "E13")),
    ("unknown_code", _set("code", "ZZ")),
    ("zone_text", _set("zone", "1a")),
    ("wrapped", lambda document, rng: ({"event": document}, ("nak",))),
    ("unknown_field", _unknown_field),
)


# -- the oracle: what the reference codec says each input gets


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


# -- counting


@dataclass
class Tally:
    """Everything sent, expected and received, and every problem seen (the first few with their input)."""

    frames: Counter[str] = field(default_factory=Counter)  # fuzz inputs, by transport
    mutations: Counter[str] = field(default_factory=Counter)
    canaries: Counter[str] = field(default_factory=Counter)  # known-good frames sent, by transport
    acked_canaries: list[bytes] = field(default_factory=list)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # received: (transport, kind)
    silent: Counter[str] = field(default_factory=Counter)  # parts of inputs that get no answer (garbage)
    labels: Counter[tuple[str, str]] = field(default_factory=Counter)  # expected frames_total: (transport, answer)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # expected rejections: (transport, reason)
    closes: Counter[str] = field(default_factory=Counter)  # TCP closes by the receiver: frame_timeout / unexpected
    stalls: int = 0  # TCP connections deliberately left with half a frame
    cut_answers: int = 0  # answers dropped with a connection cut at frame_timeout (the panel would retransmit)
    reconnects: int = 0
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)  # (what, transport)
    examples: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.frames.values())

    def expect(self, transport: str, expected: Sequence[Expected]) -> None:
        for entry in expected:
            if entry.label is not None:
                self.labels[transport, entry.label] += 1
            if entry.reason is not None:
                self.reasons[transport, entry.reason] += 1
            if entry.kind is None:
                self.silent[transport] += 1

    def answered(self, transport: str, raw: bytes, expected: Expected, data: bytes) -> bool:
        """Count one answer and check it against what was expected; whether it was right."""
        read = read_answer(raw)
        self.answers[transport, read[0] if read is not None else "unreadable"] += 1
        problem = answer_problem(raw, expected)
        if problem is not None:
            self.problem("wrong answer", transport, problem, data)
        return problem is None

    def problem(self, kind: str, transport: str, detail: str, data: bytes) -> None:
        self.problems[kind, transport] += 1
        if len(self.examples) < 30:
            shown = data[:300].hex() + ("…" if len(data) > 300 else "")
            self.examples.append(f"{kind} ({transport}): {detail}; input ({len(data)} bytes) {shown}")


@dataclass(frozen=True, slots=True)
class FuzzPlan:
    frames: int = 1_000_000
    seed: int = 1
    tcp_connections: int = 12
    udp_sockets: int = 6
    mqtt_sessions: int = len(MQTT_PANELS)
    shares: tuple[float, float, float] = (0.6, 0.3, 0.1)  # of the frames: TCP, UDP, MQTT
    canary_every: int = 500  # a known-good frame after this many inputs of one session
    stall_every: int = 10_000  # a TCP session leaves half a frame after this many inputs (0: never)
    frame_timeout: float = 1.0  # receiver.frame_timeout for the run: how soon a stalled connection is cut
    answer_timeout: float = 10.0  # seconds an expected answer may take
    warmup: float = 0.05  # share of the frames sent before the RSS baseline is taken
    rss_allowance: int = 24 * MIB
    max_frame_length: int = MAX_FRAME_LENGTH


@dataclass(frozen=True, slots=True)
class Broker:
    url: str
    mqtt5: bool = True  # False: MQTT 3.1.1 and plain subscriptions (the embedded amqtt broker of the tests)

    def settings(self, client_id: str) -> MqttSettings:
        parts = urlsplit(self.url)
        return MqttSettings(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            client_id=client_id,
            shared_group=f"fuzz-{secrets.token_hex(4)}" if self.mqtt5 else None,
            mqtt5=self.mqtt5,
        )


@dataclass
class FuzzRun:
    plan: FuzzPlan
    oracle: Oracle
    tally: Tally
    port: int
    broker: Broker | None

    def check_intent(self, transport: str, unit: Unit, expected: Sequence[Expected]) -> None:
        """An input whose answers DC-09 fixes: the reference codec must say the same."""
        if unit.intent is None:
            return
        predicted = Counter(entry.kind for entry in expected if entry.kind is not None)
        if predicted != Counter(unit.intent):
            detail = (
                f"{unit.mutation}: the spec says {list(unit.intent)}, the reference codec {list(predicted.elements())}"
            )
            self.tally.problem("reference codec against the spec", transport, detail, unit.data)


# -- the sessions: each a panel-side client with its own seeded input stream


class Session(Protocol):
    async def send(self, count: int) -> None: ...


class TcpSession:
    """One TCP connection (again after the receiver closes it): inputs and answers in order, each answer checked."""

    def __init__(self, run: FuzzRun, number: int) -> None:
        self.run = run
        self.number = number
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/tcp/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.mirror = FrameSplitter(run.plan.max_frame_length)  # cuts the stream as the receiver does
        self.answer_frames = FrameSplitter(run.plan.max_frame_length)  # answers may hold a CR in a binary CRC
        self.waiting: deque[bytes] = deque()
        self.partial_since: float | None = None  # since when the receiver holds a frame begun and not ended

    async def send(self, count: int) -> None:
        plan, tally = self.run.plan, self.run.tally
        await self._connect()
        try:
            for _ in range(count):
                self.sent += 1
                if self.sent % plan.canary_every == 0:
                    await self._exchange(self._canary(), canary=True)
                if plan.stall_every and self.sent % plan.stall_every == 0:
                    await self._stall()
                unit = self.factory.stream_unit(self.factory.rng.choice(FUZZ_PANELS))
                tally.frames["tcp"] += 1
                tally.mutations[unit.mutation] += 1
                await self._exchange(unit.data)
            await self._exchange(self._canary(), canary=True)  # a stray answer would come before its ACK
        finally:
            await self._disconnect()

    def _canary(self) -> bytes:
        self.canaries += 1
        self.run.tally.canaries["tcp"] += 1
        panel = CANARY_PANELS[self.canaries % len(CANARY_PANELS)]
        return self.factory.canary(panel, f"{self.number:X}", self.canaries)

    async def _exchange(self, data: bytes, *, canary: bool = False) -> None:
        tally = self.run.tally
        items = self._feed(data)
        expected = [self.run.oracle.frame(item) for item in items]
        tally.expect("tcp", expected)
        if canary and (not items or items[-1] != data):
            tally.problem("canary not framed", "tcp", f"split as {items!r:.200}", data)
        assert self.writer is not None
        self.writer.write(data)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = False
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = tally.answered("tcp", await self._answer(), wanted.pop(0), data)
        except TimeoutError:
            tally.problem("timeout", "tcp", f"{len(wanted)} answers missing", data)
            await self._reconnect()
        except ConnectionError as error:
            self._closed(data, len(wanted), str(error))
            await self._reconnect()
        else:
            if canary and right:
                tally.acked_canaries.append(data)

    def _feed(self, data: bytes) -> list[bytes | Rejection]:
        """The items the receiver cuts ``data`` into, noting since when it holds a frame begun and not ended."""
        items = self.mirror.feed(data)
        if not self.mirror.buffered:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.monotonic()
        return items

    def _closed(self, data: bytes, missing: int, why: str) -> None:
        """The receiver closed the connection: documented only once a begun frame has waited frame_timeout.

        (Then the answers it had not written yet are dropped with the connection, and the panel retransmits.)
        """
        tally, since = self.run.tally, self.partial_since
        if since is not None and time.monotonic() - since >= self.run.plan.frame_timeout - TIMER_SLACK:
            tally.closes["frame_timeout"] += 1
            tally.cut_answers += missing
        else:
            tally.closes["unexpected"] += 1
            waited = "no frame begun" if since is None else f"a frame begun {time.monotonic() - since:.3f} s before"
            tally.problem("unexpected close", "tcp", f"{why}; {missing} answers missing; {waited}", data)

    async def _answer(self) -> bytes:
        assert self.reader is not None
        while not self.waiting:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionResetError("the receiver closed the connection")
            for item in self.answer_frames.feed(data):
                self.waiting.append(item if isinstance(item, bytes) else item.raw)
        return self.waiting.popleft()

    async def _stall(self) -> None:
        """Half a frame, then nothing: the receiver must cut the connection after frame_timeout, unanswered."""
        await self._exchange(self._canary(), canary=True)  # nothing is left waiting in the receiver's splitter
        partial = self.factory.canary(CANARY_PANELS[0], f"{self.number:X}", 0)[:24]  # never completed
        items = self._feed(partial)
        assert self.writer is not None and self.reader is not None and not items
        self.writer.write(partial)
        tally = self.run.tally
        tally.stalls += 1
        try:
            async with asyncio.timeout(self.run.plan.frame_timeout + 5):
                data = await self.reader.read(65536)
        except TimeoutError:
            tally.problem("half a frame not cut", "tcp", "connection still open", partial)
        except ConnectionError as error:
            self._closed(partial, 0, str(error))
        else:
            if data:
                tally.problem("half a frame answered", "tcp", repr(data[:80]), partial)
            else:
                self._closed(partial, 0, "closed")
        await self._reconnect()

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.run.port)
        self.mirror = FrameSplitter(self.run.plan.max_frame_length)
        self.answer_frames = FrameSplitter(self.run.plan.max_frame_length)
        self.waiting.clear()
        self.partial_since = None

    async def _disconnect(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def _reconnect(self) -> None:
        await self._disconnect()
        await self._connect()
        self.run.tally.reconnects += 1


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        pass


class UdpSession:
    """One UDP socket: a datagram, then its answers (any order: NAKs leave at once, ACKs after the commit)."""

    def __init__(self, run: FuzzRun, number: int) -> None:
        self.run = run
        self.number = number
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/udp/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox = _Inbox()

    async def send(self, count: int) -> None:
        await self._open()
        try:
            for _ in range(count):
                self.sent += 1
                if self.sent % self.run.plan.canary_every == 0:
                    await self._exchange(self._canary(), canary=True)
                unit = self.factory.stream_unit(self.factory.rng.choice(FUZZ_PANELS))
                self.run.tally.frames["udp"] += 1
                self.run.tally.mutations[unit.mutation] += 1
                await self._exchange(unit)
            await self._exchange(self._canary(), canary=True)
        finally:
            if self.transport is not None:
                self.transport.close()

    def _canary(self) -> Unit:
        self.canaries += 1
        self.run.tally.canaries["udp"] += 1
        panel = CANARY_PANELS[self.canaries % len(CANARY_PANELS)]
        return Unit(self.factory.canary(panel, f"{0x100 + self.number:X}", self.canaries), "canary", ("ack",))

    async def _exchange(self, unit: Unit, *, canary: bool = False) -> None:
        tally = self.run.tally
        expected = [self.run.oracle.frame(item) for item in split_datagram(unit.data, self.run.plan.max_frame_length)]
        self.run.check_intent("udp", unit, expected)
        tally.expect("udp", expected)
        assert self.transport is not None
        self.transport.sendto(unit.data)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = True
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = self._match(await self.inbox.queue.get(), wanted, unit.data) and right
        except TimeoutError:
            tally.problem("timeout", "udp", f"{len(wanted)} answers missing", unit.data)
            await self._open()  # a fresh port: a late answer must not be taken for the next datagram's
            return
        if canary and right:
            tally.acked_canaries.append(unit.data)

    def _match(self, raw: bytes, wanted: list[Expected], data: bytes) -> bool:
        """Take the expected answer that ``raw`` is (same kind and sequence) off ``wanted``; whether one was."""
        read = read_answer(raw)
        for index, entry in enumerate(wanted):
            if read is not None and entry.kind == read[0] and entry.sequence in (None, read[1]):
                del wanted[index]
                return self.run.tally.answered("udp", raw, entry, data)
        self.run.tally.answers["udp", read[0] if read is not None else "unreadable"] += 1
        self.run.tally.problem("wrong answer", "udp", f"unexpected {raw[:80]!r}", data)
        return False

    async def _open(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.inbox = _Inbox()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.inbox, remote_addr=("127.0.0.1", self.run.port))
        self.transport = transport


class MqttSession:
    """One topic account: a payload on its dc09 or events topic, then its answers on its ack topic, in order."""

    def __init__(self, run: FuzzRun, number: int, panel: Panel) -> None:
        self.run = run
        self.number = number
        self.panel = panel
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/mqtt/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.publisher: paho.Client | None = None

    async def send(self, count: int) -> None:
        assert self.run.broker is not None
        settings = self.run.broker.settings(f"alarmhub-fuzz-{secrets.token_hex(4)}-{self.number}")
        client = connect_client(settings, clean=True)
        on_each_message(client, lambda message: self.inbox.put_nowait(bytes(message.payload)))
        async with client:
            await client.subscribe(ack_topic(self.panel.account), qos=1)
            self.publisher = paho_client(client)
            for _ in range(count):
                self.sent += 1
                if self.sent % self.run.plan.canary_every == 0:
                    await self._canary()
                kind, unit = self._unit()
                self.run.tally.frames["mqtt"] += 1
                self.run.tally.mutations[unit.mutation] += 1
                await self._exchange(kind, unit)
            await self._canary()

    def _unit(self) -> tuple[str, Unit]:
        rng = self.factory.rng
        if rng.random() < 0.5:
            return "events", self.factory.event_unit(self.panel)
        panel = self.panel if self.panel.account and rng.random() < 0.85 else rng.choice(FUZZ_PANELS)
        return "dc09", self.factory.stream_unit(panel, topic=self.panel)

    async def _canary(self) -> None:
        if not self.panel.account:
            return  # no frame can name the topic's (missing) account
        self.canaries += 1
        self.run.tally.canaries["mqtt"] += 1
        frame = self.factory.canary(self.panel, f"{0x200 + self.number:X}", self.canaries)
        await self._exchange("dc09", Unit(frame, "canary", ("ack",)), canary=True)

    async def _exchange(self, kind: str, unit: Unit, *, canary: bool = False) -> None:
        tally, oracle = self.run.tally, self.run.oracle
        if kind == "events":
            expected = oracle.event(unit.data, self.panel.account)
        else:
            expected = oracle.dc09_payload(unit.data, self.panel.account)
        self.run.check_intent("mqtt", unit, expected)
        tally.expect("mqtt", expected)
        assert self.publisher is not None
        self.publisher.publish(f"{TOPIC_ROOT}/{self.panel.account}/{kind}", unit.data, qos=1)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = True
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = tally.answered("mqtt", await self.inbox.get(), wanted.pop(0), unit.data) and right
        except TimeoutError:
            tally.problem("timeout", "mqtt", f"{len(wanted)} answers missing", unit.data)
            return
        if canary and right:
            tally.acked_canaries.append(unit.data)


# -- the receiver under test


@dataclass(frozen=True, slots=True)
class ReceiverProcess:
    process: subprocess.Popen[bytes]
    port: int
    metrics_url: str
    log: Path


def receiver_environment(database_url: str, plan: FuzzPlan, port: int, metrics_port: int) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(port),
        "ALARMHUB_RECEIVER_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "ALARMHUB_RECEIVER_FRAME_TIMEOUT": str(plan.frame_timeout),
        "ALARMHUB_RECEIVER_MAX_FRAME_LENGTH": str(plan.max_frame_length),
        # Every rejection of the run stays in the table, so that it can be counted against the metric.
        "ALARMHUB_RECEIVER_REJECTED_FRAMES_KEPT": "100000000",
        "ALARMHUB_RECEIVER_PROCESSES": "1",
        "ALARMHUB_LOG_LEVEL": "warning",
        "ALARMHUB_MQTT_URL": "",
    }


@asynccontextmanager
async def running_receiver(
    database_url: str, plan: FuzzPlan, broker: Broker | None, log_directory: Path
) -> AsyncIterator[ReceiverProcess]:
    """`alarmhub receiver` in a process of its own, listening (and subscribed), stopped afterwards."""
    port, metrics_port = free_port(), free_port()
    env = receiver_environment(database_url, plan, port, metrics_port)
    settings = broker.settings(f"alarmhub-fuzz-receiver-{secrets.token_hex(4)}") if broker is not None else None
    if settings is not None and broker is not None:
        env |= {
            "ALARMHUB_MQTT_URL": broker.url,
            "ALARMHUB_MQTT_CLIENT_ID": settings.client_id,
            "ALARMHUB_MQTT_SHARED_GROUP": settings.shared_group or "",
            "ALARMHUB_MQTT_PROTOCOL": "5" if broker.mqtt5 else "3.1.1",
        }
    log = log_directory / "receiver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env, stdout=output, stderr=output
        )
    try:
        await wait_for_port(port, process)
        if settings is not None:
            await wait_subscribed(settings, process)
        yield ReceiverProcess(process, port, f"http://127.0.0.1:{metrics_port}/metrics", log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if settings is not None:
            async with connect_client(settings, clean=True):  # drop the receiver's persistent session
                pass


MOSQUITTO_SETTINGS = "allow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 0\n"


@asynccontextmanager
async def own_mosquitto(directory: Path) -> AsyncIterator[Broker | None]:
    """A Mosquitto of the run's own on a free port (None when the binary is missing).

    The topics are fixed (alarmhub/panels/<account>/...), so every receiver subscribed to a shared broker — another
    test run's, say — answers the fuzzer's inputs on the same ack topics, and the fuzzer's receiver answers theirs:
    exact per-input checks need a broker no other receiver uses. Persistence is off (nothing outlives the run) and
    TCP_NODELAY on, so that an answer is not held for the peer's delayed ACK.
    """
    binary = shutil.which("mosquitto") or next((path for path in ("/usr/sbin/mosquitto",) if Path(path).exists()), None)
    if binary is None:
        yield None
        return
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\n{MOSQUITTO_SETTINGS}")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_for_port(port, process)
        yield Broker(f"mqtt://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=15)


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    return _status_field(pid, "VmRSS:")


def peak_rss(pid: int) -> int:
    return _status_field(pid, "VmHWM:")


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024
    return 0


async def scrape(url: str, labels: Mapping[str, tuple[str, ...]]) -> dict[str, dict[tuple[str, ...], int]]:
    """The receiver's counters named in ``labels`` (metric name -> its label names): label values -> value."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in labels}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in labels and sample.value:
                key = tuple(sample.labels[label] for label in labels[sample.name])
                found[sample.name][key] = int(sample.value)
    return found


def log_findings(log: Path) -> tuple[list[str], list[str]]:
    """(warning lines, error lines) of the receiver's log; a line that is not a JSON record counts as an error."""
    warnings, errors = [], []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        level = record.get("level") if isinstance(record, dict) else None
        if level == "warning":
            warnings.append(line)
        elif level in ("error", "critical", "exception"):
            errors.append(line)
    return warnings, errors


# -- a run

Check = tuple[str, bool, str]  # (what is checked, passed, the figures)
Metrics = Mapping[str, Mapping[tuple[str, ...], int]]
FRAMES = "alarmhub_receiver_frames_total"
REJECTED = "alarmhub_receiver_rejected_frames_total"
UNRECORDED = "alarmhub_receiver_rejected_frames_unrecorded_total"


@dataclass
class Outcome:
    plan: FuzzPlan
    tally: Tally
    seconds: float
    rss: dict[str, int]  # start, warm (after the warm-up share), end, peak
    rss_samples: list[tuple[int, int]]  # (inputs sent so far, RSS) during the main part
    checks: list[Check]
    warnings: list[str] = field(default_factory=list)  # the receiver's warning lines
    broker: str | None = None

    @property
    def passed(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    @property
    def rate(self) -> float:
        return self.tally.sent / self.seconds if self.seconds else 0.0


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole shares."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def build_sessions(run: FuzzRun) -> list[tuple[Session, int]]:
    """Every session with its share of the frames."""
    plan = run.plan
    mqtt = min(plan.mqtt_sessions, len(MQTT_PANELS)) if run.broker is not None else 0
    tcp_share, udp_share, mqtt_share = plan.shares
    mqtt_share = mqtt_share if mqtt else 0.0
    whole = tcp_share + udp_share + mqtt_share
    mqtt_frames = round(plan.frames * mqtt_share / whole)
    udp_frames = round(plan.frames * udp_share / whole)
    sessions: list[tuple[Session, int]] = []
    for number, count in enumerate(split(plan.frames - mqtt_frames - udp_frames, plan.tcp_connections)):
        sessions.append((TcpSession(run, number), count))
    for number, count in enumerate(split(udp_frames, plan.udp_sockets)):
        sessions.append((UdpSession(run, number), count))
    for number, count in enumerate(split(mqtt_frames, mqtt) if mqtt else []):
        sessions.append((MqttSession(run, number, MQTT_PANELS[number]), count))
    return sessions


async def drive(sessions: Sequence[tuple[Session, int]]) -> float:
    """Every session sends its count, all at once; the seconds it took."""
    started = time.perf_counter()
    await asyncio.gather(*(session.send(count) for session, count in sessions if count))
    return time.perf_counter() - started


async def sample_rss(pid: int, tally: Tally, samples: list[tuple[int, int]], every: float = 2.0) -> None:
    while True:
        await asyncio.sleep(every)
        samples.append((tally.sent, rss(pid)))


async def fuzz(plan: FuzzPlan, database_url: str, broker: Broker | None) -> Outcome:
    """Enrol the panels, start the receiver, send everything, and check what it did."""
    connection = await asyncpg.connect(database_url)
    try:
        await enrol_simulated_panels(connection, enrolled_keys())
    finally:
        await connection.close()
    with tempfile.TemporaryDirectory(prefix="alarmhub-fuzz-") as directory:
        async with running_receiver(database_url, plan, broker, Path(directory)) as receiver:
            run = FuzzRun(plan, Oracle(enrolled_keys(), plan.max_frame_length), Tally(), receiver.port, broker)
            pid = receiver.process.pid
            sizes = {"start": rss(pid)}
            sessions = build_sessions(run)
            warm = [(session, math.ceil(count * plan.warmup)) for session, count in sessions]
            seconds = await drive(warm)
            sizes["warm"] = rss(pid)
            samples = [(run.tally.sent, sizes["warm"])]
            monitor = asyncio.create_task(sample_rss(pid, run.tally, samples))
            try:
                seconds += await drive(
                    [(session, count - done) for (session, count), (_, done) in zip(sessions, warm, strict=True)]
                )
            finally:
                monitor.cancel()
            await asyncio.sleep(1.5)  # the last batches commit and housekeeping writes the last rejections
            sizes |= {"end": rss(pid), "peak": peak_rss(pid)}
            checks = await evidence(run, receiver, database_url, sizes)
        warnings, errors = log_findings(receiver.log)
    status = receiver.process.returncode
    checks.append(("the receiver stopped cleanly on SIGTERM", status == 0, f"exit status {status}"))
    checks.append(("the receiver logged no error", not errors, "; ".join(errors[:3])[:600] or "none"))
    return Outcome(plan, run.tally, seconds, sizes, samples, checks, warnings, broker.url if broker else None)


async def evidence(run: FuzzRun, receiver: ReceiverProcess, database_url: str, sizes: Mapping[str, int]) -> list[Check]:
    """The end-of-run checks that need the receiver still running."""
    tally, plan = run.tally, run.plan
    checks: list[Check] = [("the receiver process is alive", receiver.process.poll() is None, "")]
    problems = ", ".join(f"{kind} ({transport}) {count:,}" for (kind, transport), count in tally.problems.items())
    checks.append(("every input answered as the reference codec and DC-09 say", not tally.problems, problems or "yes"))
    closes = (
        f"{tally.closes['frame_timeout']:,} after a frame waited frame_timeout ({tally.stalls:,} left on purpose, "
        f"{tally.cut_answers:,} answers cut with them), {tally.closes['unexpected']:,} otherwise"
    )
    cut_right = not tally.closes["unexpected"] and tally.closes["frame_timeout"] >= tally.stalls
    checks.append(("TCP connections cut only once a begun frame waited frame_timeout", cut_right, closes))
    growth = sizes["end"] - sizes["warm"]
    detail = f"{growth / MIB:+.1f} MiB after warm-up (allowed {plan.rss_allowance / MIB:.0f} MiB)"
    checks.append(("memory flat", growth <= plan.rss_allowance, detail))
    scraped = await scrape(
        receiver.metrics_url, {FRAMES: ("transport", "answer"), REJECTED: ("reason",), UNRECORDED: ()}
    )
    checks += metric_checks(tally, scraped)
    unrecorded = scraped[UNRECORDED].get((), 0)
    connection = await asyncpg.connect(database_url)
    try:
        checks.append(await table_check(connection, tally, unrecorded))
        checks.append(await canary_check(connection, tally))
    finally:
        await connection.close()
    return checks


def metric_checks(tally: Tally, metrics: Metrics) -> list[Check]:
    frames, rejected = metrics[FRAMES], metrics[REJECTED]
    by_reason: Counter[tuple[str, ...]] = Counter()
    for (_, reason), count in tally.reasons.items():
        by_reason[(reason,)] += count
    expected_frames = _nonzero({key: count for key, count in tally.labels.items()})
    expected_rejected = _nonzero(dict(by_reason))
    return [
        ("/metrics frames by transport and answer", frames == expected_frames, _difference(frames, expected_frames)),
        ("/metrics rejections by reason", rejected == expected_rejected, _difference(rejected, expected_rejected)),
    ]


async def table_check(connection: asyncpg.Connection, tally: Tally, unrecorded: int) -> Check:
    """rejected_frames holds every rejection but those the receiver counted as unrecorded (a burst larger than its
    bounded buffer, written about once a second: the oldest of it is pushed out, counted and logged) — none lost
    without a word. Without unrecorded ones, the table matches by transport and reason exactly."""
    expected = _nonzero({key: count for key, count in tally.reasons.items()})
    found: dict[tuple[str, ...], int] = {}
    for _ in range(30):
        rows = await connection.fetch("SELECT transport, reason, count(*) AS n FROM rejected_frames GROUP BY 1, 2")
        found = {(row["transport"], row["reason"]): row["n"] for row in rows}
        if sum(found.values()) + unrecorded >= sum(expected.values()):
            break
        await asyncio.sleep(0.5)
    if not unrecorded:
        return ("rejected_frames by transport and reason", found == expected, _difference(found, expected))
    accounted = sum(found.values()) + unrecorded == sum(expected.values())
    within = all(count <= expected.get(key, 0) for key, count in found.items())
    detail = (
        f"{sum(found.values()):,} rows + {unrecorded:,} counted as unrecorded "
        f"(alarmhub_receiver_rejected_frames_unrecorded_total) = {sum(found.values()) + unrecorded:,} "
        f"of {sum(expected.values()):,} rejections"
    )
    return ("rejected_frames: every rejection written or counted as unrecorded", accounted and within, detail)


async def canary_check(connection: asyncpg.Connection, tally: Tally) -> Check:
    sent = sum(tally.canaries.values())
    stored = await connection.fetchval(
        "SELECT count(DISTINCT raw_frame) FROM signals WHERE raw_frame = ANY($1::bytea[])", tally.acked_canaries
    )
    detail = f"{sent:,} sent, {len(tally.acked_canaries):,} acknowledged, {stored:,} in signals"
    return ("known-good frames acknowledged and stored", stored == len(tally.acked_canaries) == sent, detail)


def _nonzero(counts: Mapping[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    return {key: count for key, count in counts.items() if count}


def _difference(found: Mapping[tuple[str, ...], int], expected: Mapping[tuple[str, ...], int]) -> str:
    """The totals, and where the two disagree."""
    total = f"{sum(found.values()):,} counted, {sum(expected.values()):,} expected"
    wrong = [
        f"{'/'.join(key)} {found.get(key, 0):,} not {expected.get(key, 0):,}"
        for key in sorted(set(found) | set(expected))
        if found.get(key, 0) != expected.get(key, 0)
    ]
    return total + (f" ({'; '.join(wrong[:8])})" if wrong else "")


# -- the report


def report(outcome: Outcome, database: str, command: str) -> str:
    tally, plan, sizes = outcome.tally, outcome.plan, outcome.rss
    mqtt = min(plan.mqtt_sessions, len(MQTT_PANELS)) if tally.frames["mqtt"] else 0
    lines = [
        f"Machine: {machine()}; {database}; broker {outcome.broker or 'none (MQTT not fuzzed)'}.",
        f"Command: `{command}` (seed {plan.seed}; {plan.tcp_connections} TCP connections, {plan.udp_sockets} UDP "
        f"sockets, {mqtt} MQTT topic accounts, each sending an input once the last one's answers are in; a "
        f"known-good frame every {plan.canary_every} inputs of each; half a frame every {plan.stall_every:,} inputs "
        f"of a TCP connection, with receiver.frame_timeout = {plan.frame_timeout:g} s; receiver, PostgreSQL, broker "
        f"and fuzzer on the same machine).",
        "",
        f"{tally.sent:,} inputs in {outcome.seconds:.0f} s: **{outcome.rate:,.0f} inputs/s**, plus "
        f"{sum(tally.canaries.values()):,} known-good frames.",
        "",
        "| transport | inputs | ACK | NAK | DUH | no answer (garbage) | timeouts | closes: frame timeout / other |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for transport in ("tcp", "udp", "mqtt"):
        if tally.frames[transport]:
            closes = f"{tally.closes['frame_timeout']:,} / {tally.closes['unexpected']:,}" if transport == "tcp" else ""
            lines.append(
                f"| {transport.upper()} | {tally.frames[transport]:,} | {tally.answers[transport, 'ack']:,} | "
                f"{tally.answers[transport, 'nak']:,} | {tally.answers[transport, 'duh']:,} | "
                f"{tally.silent[transport]:,} | {tally.problems['timeout', transport]:,} | {closes} |"
            )
    lines += [
        "",
        f"Receiver RSS: {sizes['start'] / MIB:.1f} MiB at start, {sizes['warm'] / MIB:.1f} MiB after the first "
        f"{plan.warmup:.0%} of the inputs, {sizes['end'] / MIB:.1f} MiB at the end (peak {sizes['peak'] / MIB:.1f} "
        f"MiB); growth allowed after the warm-up: {plan.rss_allowance / MIB:.0f} MiB — what the receiver's bounded "
        f"buffers can take up once full (up to 10,000 rejections waiting for housekeeping with 256 bytes of frame and "
        f"a detail each, the x-data cache of 4,096 entries, a 2,000-row batch) and no more: a leak of "
        f"{plan.rss_allowance / max(tally.sent, 1):.0f} bytes an input would exceed it.",
        f"RSS as the run went on (inputs sent: MiB): {rss_series(outcome.rss_samples)}.",
        "",
        "| check | result | figures |",
        "| --- | --- | --- |",
        *(f"| {what} | {'pass' if passed else '**FAIL**'} | {figures} |" for what, passed, figures in outcome.checks),
    ]
    if tally.examples:
        lines += ["", "First problems:", "", *(f"- {example}" for example in tally.examples[:10])]
    if outcome.warnings:
        lines += ["", f"The receiver logged {len(outcome.warnings):,} warnings, first:", ""]
        lines += [f"- `{line[:300]}`" for line in outcome.warnings[:3]]
    return "\n".join(lines) + "\n"


def rss_series(samples: Sequence[tuple[int, int]], points: int = 10) -> str:
    """About ``points`` samples, evenly spread, as "sent: MiB"."""
    step = max(1, len(samples) // points)
    chosen = [*samples[::step], *samples[-1:]] if samples else []
    return ", ".join(f"{sent:,}: {size / MIB:.1f}" for sent, size in dict(chosen).items())


# -- the command


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000, help="fuzz inputs in all (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--broker", help="an MQTT broker no other receiver uses (default: a Mosquitto of the run's own)"
    )
    parser.add_argument("--no-mqtt", action="store_true", help="TCP and UDP only")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args(argv)
    plan = FuzzPlan(frames=args.frames, seed=args.seed)
    url, embedded = server_url()
    try:
        async with migrated_database(url, "fuzz") as database_url:
            connection = await asyncpg.connect(database_url)
            version = await connection.fetchval("SHOW server_version")
            await connection.close()
            with tempfile.TemporaryDirectory(prefix="alarmhub-fuzz-broker-") as directory:
                async with own_mosquitto(Path(directory)) as own:
                    broker = None if args.no_mqtt else Broker(args.broker) if args.broker else own
                    if broker is None and not args.no_mqtt:
                        raise SystemExit("no mosquitto binary: give --broker URL (a broker no other receiver uses)")
                    outcome = await fuzz(plan, database_url, broker)
    finally:
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    where = "embedded" if embedded else f"server at {urlsplit(url).netloc}"
    command = f"python -m bench.fuzz --frames {args.frames} --seed {args.seed}{' --no-mqtt' if args.no_mqtt else ''}"
    if broker is own and own is not None:
        outcome.broker = f"Mosquitto of its own ({MOSQUITTO_SETTINGS.strip().replace(chr(10), ', ')})"
    text = report(outcome, f"PostgreSQL {version} ({where})", command)
    print(text)
    if args.write:
        write_results(text, section="fuzz", title="Fuzzing the running receiver (`make fuzz`)")
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    run_benchmark(main)

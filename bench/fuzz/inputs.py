"""What is sent: valid frames of many shapes, mutated, and random bytes (pure, seeded)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from bench.fuzz.event_mutations import EVENT_FIELD_MUTATIONS
from bench.fuzz.panels import Panel
from bench.fuzz.plan import MAX_FRAME_LENGTH
from receiver.dc09 import cid_data, encode_frame
from receiver.dc09.wire import KEY_SIZES, wrap
from receiver.ingest import MAX_EVENTS_PER_MESSAGE


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

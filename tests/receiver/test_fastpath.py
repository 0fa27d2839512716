"""The compiled DC-09 fast path (receiver/_fastpath.c) against the pure-Python codec, which is the reference.

For any bytes, `fastpath.decode` either returns None (the caller then runs the reference) or rows and an answer
header such that the reference accepts the frame, and gives the very same rows and an equivalent ACK. `compare`
checks that contract on every frame these tests make; the example tests also check that the common frames do take
the fast path, and that the unusual ones are left to the reference.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver import fastpath
from receiver.accounts import PanelInfo
from receiver.dc09 import (
    Answer,
    Envelope,
    Message,
    Rejection,
    RejectReason,
    ack,
    cid_data,
    crc16_arc,
    encode_frame,
    open_message,
    parse_answer,
    parse_envelope,
    sia_data,
)
from receiver.dc09.wire import decrypt_region, encrypt_region, wrap
from receiver.signal_rows import FIELD_SEPARATOR, SIGNAL_COLUMNS, message_rows, row_head

pytestmark = pytest.mark.skipif(not fastpath.AVAILABLE, reason="the compiled fast path is not built")

NOW = datetime(2026, 11, 21, 12, 0, 0, 250000, tzinfo=UTC)
NOW_WHOLE = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)  # no microseconds: received_at has no fraction
SECOND = NOW.replace(microsecond=0)  # what the window is measured from
KEYS = {
    16: bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
    24: bytes.fromhex("F0E1D2C3B4A5968778695A4B3C2D1E0F0011223344556677"),
    32: bytes(range(100, 132)),
}
KEY = KEYS[16]
ACCOUNT_16 = "0123456789ABCDEF"
PANEL = PanelInfo(account="1234", panel_id=11, site_id=22, customer_id=33, key=None)
TRANSPORT, PEER = "tcp", "192.0.2.7:40001"
NOISE = b"\r\n\x00 \t"

COLUMNS = [name for name, _, _ in SIGNAL_COLUMNS]


# ---- the contract ----


def test_the_fast_path_is_built() -> None:
    assert fastpath.AVAILABLE, "receiver/_fastpath.c was not built: install gcc and OpenSSL 3 headers, then make"


def reference(frame: bytes, key: bytes | None, now: datetime = NOW, *, enforce: bool = True) -> Message | Rejection:
    env = parse_envelope(frame)
    if isinstance(env, Rejection):
        return env
    return open_message(env, key, now, enforce_window=enforce)


def compare(
    frame: bytes,
    key: bytes | None,
    now: datetime = NOW,
    *,
    enforce: bool = True,
    panel: PanelInfo | None = None,
) -> tuple[list[str], bytes, bool] | None:
    """Run the fast path and, when it answers, check it against the reference; the fast path's result."""
    peeked = fastpath.peek_account(frame)
    assert peeked is None or type(peeked) is str
    env = parse_envelope(frame)
    if isinstance(env, Envelope) and peeked is not None:
        assert peeked == env.account
    header_account = env.account if isinstance(env, Envelope) else peeked or "NONE"
    account = panel.account if panel is not None else header_account.upper()  # as Ingestor does
    head = row_head(account, panel, TRANSPORT, PEER)
    fast = fastpath.decode(frame, key, now, enforce, head)
    if fast is None:
        return None
    rows, answer_header, encrypted = fast
    assert isinstance(env, Envelope), env
    assert peeked == env.account
    message = open_message(env, key, now, enforce_window=enforce)
    assert isinstance(message, Message), message
    assert len(message.events) <= 64
    if message.data_account is not None and message.events:  # a NULL stores nothing: its block's account is moot
        assert message.data_account.upper() == env.account.upper()
    expected = message_rows(message, panel, account, TRANSPORT, PEER, now)
    assert rows == expected
    assert all(type(row) is str for row in rows)
    assert encrypted is env.encrypted
    answer = fastpath.ack(answer_header, key, now)
    if encrypted:
        assert key is not None
        parsed = parse_answer(answer, key)
        assert isinstance(parsed, Answer), parsed
        assert (parsed.kind, parsed.encrypted, parsed.sequence, parsed.receiver, parsed.line, parsed.account) == (
            "ack",
            True,
            env.sequence,
            env.receiver,
            env.line,
            env.account,
        )
        assert parsed.timestamp == now.replace(microsecond=0)
    else:
        assert answer == ack(env, None, now)
    return fast


def taken(
    frame: bytes,
    key: bytes | None = None,
    now: datetime = NOW,
    *,
    enforce: bool = True,
    panel: PanelInfo | None = None,
) -> list[dict[str, str]]:
    """Assert the fast path takes the frame (and agrees with the reference); its rows, column by column."""
    fast = compare(frame, key, now, enforce=enforce, panel=panel)
    assert fast is not None, reference(frame, key, now, enforce=enforce)
    return [dict(zip(COLUMNS, row.split(FIELD_SEPARATOR), strict=True)) for row in fast[0]]


def declined(
    frame: bytes, key: bytes | None = None, now: datetime = NOW, *, enforce: bool = True
) -> Message | Rejection:
    """Assert the fast path leaves the frame to the reference; what the reference makes of it."""
    assert compare(frame, key, now, enforce=enforce) is None
    return reference(frame, key, now, enforce=enforce)


def frame_of(
    kind: str,
    data: str,
    *,
    account: str = "1234",
    sequence: int = 42,
    receiver: str | None = None,
    line: str = "0",
    extended: tuple[str, ...] = (),
    stamp: datetime | None = SECOND,
    key: bytes | None = None,
) -> bytes:
    return encode_frame(
        kind,
        sequence,
        account,
        data,
        receiver=receiver,
        line=line,
        extended=extended,
        timestamp=stamp,
        key=key,
    )


def reason(result: Message | Rejection) -> RejectReason:
    assert isinstance(result, Rejection), result
    return result.reason


# ---- frames the fast path takes ----

TAKEN = {
    # Contact ID
    "cid-q1": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15)),
    "cid-q3": frame_of("ADM-CID", cid_data("1234", 3, 130, 1, 15)),
    "cid-q6": frame_of("ADM-CID", cid_data("1234", 6, 570, 2, 3)),
    "cid-no-account": frame_of("ADM-CID", cid_data(None, 1, 130, 1, 15)),
    "cid-bar-only": frame_of("ADM-CID", "|1130 01 015"),
    "cid-empty-account": frame_of("ADM-CID", "#|1130 01 015"),
    "cid-lower-header": frame_of("ADM-CID", cid_data("ABC123", 1, 130, 1, 15), account="abc123"),
    "cid-lower-data": frame_of("ADM-CID", cid_data("abc123", 1, 130, 1, 15), account="ABC123"),
    "cid-lower-both": frame_of("ADM-CID", cid_data("abc123", 1, 130, 1, 15), account="abc123"),
    "cid-mixed-case": frame_of("ADM-CID", cid_data("aBc123", 1, 130, 1, 15), account="AbC123"),
    "cid-extra-spaces": frame_of("ADM-CID", "#1234|  1  130   01 015   "),
    "cid-no-spaces": frame_of("ADM-CID", "#1234|113001015"),
    "cid-unknown-code": frame_of("ADM-CID", cid_data("1234", 1, 999, 0, 0)),
    "cid-16-digit-account": frame_of(
        "ADM-CID", cid_data("0123456789ABCDEF", 1, 130, 1, 15), account="0123456789ABCDEF"
    ),
    "cid-3-digit-account": frame_of("ADM-CID", cid_data("12F", 1, 130, 1, 15), account="12F"),
    # SIA-DCS
    "sia-single": frame_of("SIA-DCS", sia_data("1234", "BA", 15)),
    "sia-no-n": frame_of("SIA-DCS", "#1234|BA015"),
    "sia-n-slash": frame_of("SIA-DCS", "#1234|N/BA015"),
    "sia-modifiers": frame_of("SIA-DCS", sia_data("1234", "CL", None, partition=2, user=7)),
    "sia-modifiers-zone": frame_of("SIA-DCS", sia_data("1234", "BA", 15, partition="01", user="0003")),
    "sia-several": frame_of("SIA-DCS", "#1234|Nri1/BA015/BR015/ri2/id3/CL003/OP"),
    "sia-spaces": frame_of("SIA-DCS", "#1234|Nri1 BA015  TA2 / RP"),
    "sia-no-separators": frame_of("SIA-DCS", "#1234|Nri1BA015id2CL"),
    "sia-no-digits": frame_of("SIA-DCS", "#1234|NRP"),
    "sia-other-modifiers": frame_of("SIA-DCS", "#1234|Nlm12:30/ri1/BA015/xx-1.5"),
    "sia-empty-modifier": frame_of("SIA-DCS", "#1234|Nri/id/BA015"),
    "sia-prefix-na": frame_of("SIA-DCS", "#1234|NA001"),  # the code NA, not N + A001
    "sia-prefix-nna": frame_of("SIA-DCS", "#1234|NNA001"),
    "sia-no-account": frame_of("SIA-DCS", "NBA015"),
    "sia-lower-data-account": frame_of("SIA-DCS", "#abcd|NBA015", account="ABCD"),
    "sia-64-events": frame_of("SIA-DCS", "#1234|N" + "/".join(f"BA{zone:03d}" for zone in range(64))),
    # NULL
    "null-empty": frame_of("NULL", ""),
    "null-dummy-same-account": frame_of("NULL", "#0000|0000 00 000", account="0000"),
    "null-dummy-no-account": frame_of("NULL", "0000 00 000"),
    # extended data blocks
    "extended": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("X115000", "RLivingRoom")),
    "extended-sia": frame_of("SIA-DCS", "#1234|NBA015", extended=("X1", "Y2", "H12:00:00 11-21-2026")),
    "extended-empty": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("",)),
    "extended-two-empty": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("", "")),
    "extended-brackets": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("a[", "[b", "[[")),
    "extended-punctuation": frame_of("NULL", "", extended=("~!@#$%^&*()_+{}|:<>?`-=\\;',./ \"",)),
    "xdata-every-kind": frame_of(
        "ADM-CID",
        cid_data("1234", 1, 130, 1, 15),
        extended=(
            "X-115.500",
            "YS32.25",
            "Z12.5m",
            "M00-26-B9-E4-26-8B",
            "Vhttps://video.example/clip?id=7&t=1",
            "IPIR hall",
            "H12:00:00,11-21-2026",
            "LGround floor",
            "RLiving room",
            "SMain street 1",
        ),
    ),
    "xdata-unreadable": frame_of(
        "SIA-DCS", "#1234|NBA015/BR016", extended=("X181", "Vjavascript:alert(1)", "Q?", "", "KABCDEF", "X1.5")
    ),
    "xdata-only-ignored": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("K0123", "A1")),
    "xdata-escapes": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=('I"quoted" \\ back', "R\u2028")),
    # non-ASCII (UTF-8) text
    "utf8-xdata": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("ITEST àäâèéêïîöôü", "RKüche")),
    "utf8-xdata-wide": frame_of("SIA-DCS", "#1234|NBA015", extended=("I警報 \U0001f6a8", "S\u00a0Ødegård\u0085")),
    "utf8-sia-data": frame_of("SIA-DCS", "#1234|NBA015é/ü BR016\u00a0CL1"),
    "utf8-null": frame_of("NULL", "é", extended=("Rü",)),
    # header fields
    "receiver": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), receiver="C0FFD"),
    "receiver-lower": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), receiver="c0ffd"),
    "receiver-6": frame_of("SIA-DCS", "#1234|NBA1", receiver="123456", line="ABCDEF"),
    "line-empty": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), line=""),
    "line-a0": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), line="1A0"),
    "sequence-0000": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), sequence=0),
    "sequence-9999": frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), sequence=9999),
    # the timestamp
    "stamp-without-underscore": wrap(b'"ADM-CID"0042L0#1234[#1234|1130 01 015]12:00:00,11-21-2026'),
}


@pytest.mark.parametrize("frame", TAKEN.values(), ids=TAKEN.keys())
@pytest.mark.parametrize("enforce", [True, False], ids=["enforced", "unenforced"])
@pytest.mark.parametrize("panel", [PANEL, None], ids=["known", "unknown"])
def test_plain_frames_take_the_fast_path(frame: bytes, enforce: bool, panel: PanelInfo | None) -> None:
    taken(frame, enforce=enforce, panel=panel)


ENCRYPTED = {
    "cid": ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ()),
    "cid-no-account": ("ADM-CID", cid_data(None, 3, 401, 2, 7), ()),
    "sia": ("SIA-DCS", "#1234|Nri1/id2/BA015/CL", ()),
    "null": ("NULL", "", ()),
    "extended": ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ("X115000", "RLivingRoom")),
    "long": ("SIA-DCS", "#1234|N" + "/".join(f"BA{zone:03d}" for zone in range(60)), ("X" * 100,)),
    "xdata": ("SIA-DCS", "#1234|NBA015", ("X8.5417", "Y47.3769", "M0026B9E4268B", "Vhttp://cam/1", "H12:00")),
    "utf8": ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ("RSchlafzimmer Süd", "Iπ ≈ 3.14")),
}


@pytest.mark.parametrize("size", sorted(KEYS))
@pytest.mark.parametrize(("kind", "data", "extended"), ENCRYPTED.values(), ids=ENCRYPTED.keys())
@pytest.mark.parametrize("now", [NOW, NOW_WHOLE], ids=["fraction", "whole"])
def test_encrypted_frames_take_the_fast_path(
    size: int, kind: str, data: str, extended: tuple[str, ...], now: datetime
) -> None:
    key = KEYS[size]
    panel = PanelInfo(account="1234", panel_id=5, site_id=6, customer_id=7, key=key)
    frame = frame_of(kind, data, extended=extended, key=key)
    taken(frame, key, now, panel=panel)
    taken(frame, key, now, enforce=False, panel=None)


def test_the_pad_may_hold_any_byte_but_its_terminator() -> None:
    pad = bytes(range(0x7F, 0x8F))  # neither printable nor ASCII: stripped with the pad
    frame = encode_frame("ADM-CID", 1, "1234", cid_data("1234", 1, 130, 1, 15), timestamp=SECOND, key=KEY, pad=pad)
    taken(frame, KEY)


def test_hikvision_encrypted_null_without_pad_terminator() -> None:
    # A capture (eavanvalkenburg/sia #17): the plaintext is "ppppppppppp]_18:24:52,07-05-2020", no '|'.
    body = b'"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9'
    assert taken(wrap(body), b"AAAAAAAAAAAAAAAA", datetime(2020, 7, 5, 18, 25, 10, tzinfo=UTC)) == []


def test_contact_id_rows_field_by_field() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 3, 130, 2, 15), receiver="7", line="3", extended=("X1", "Y2"))
    (row,) = taken(frame, panel=PANEL)
    assert row == {
        "account": "1234",
        "panel_id": "11",
        "site_id": "22",
        "customer_id": "33",
        "transport": TRANSPORT,
        "remote_addr": PEER,
        "receiver": "7",
        "line": "3",
        "sequence": "0042",
        "panel_time": "2026-11-21T12:00:00+00:00",
        "received_at": "2026-11-21T12:00:00.250000+00:00",
        "event_index": "0",
        "format": "ADM-CID",
        "code": "130",
        "qualifier": "restore",
        "zone": "015",
        "partition": "02",
        "user_number": "",
        "category": "alarm",
        "alarm_type": "burglary",
        "priority": "3",
        "description": "Burglary alarm restored",
        "extended": "X1\x1eY2",
        "raw_frame": frame.hex(),
        "xdata": '{"longitude":1.0,"latitude":2.0}',
    }


def test_xdata_is_typed_through_row_xdata() -> None:
    (row,) = taken(TAKEN["xdata-every-kind"], panel=PANEL)
    assert json.loads(row["xdata"]) == {
        "longitude": -115.5,
        "latitude": -32.25,
        "altitude": 12.5,
        "mac": "00:26:b9:e4:26:8b",
        "verification": "https://video.example/clip?id=7&t=1",
        "text": "PIR hall",
        "occurred_at": "2026-11-21T12:00:00+00:00",
        "location": "Ground floor",
        "room": "Living room",
        "site": "Main street 1",
    }
    first, second = taken(TAKEN["xdata-unreadable"])
    assert first["xdata"] == second["xdata"]
    assert json.loads(first["xdata"]) == {"longitude": 1.5, "unreadable": ["X181", "Vjavascript:alert(1)", "Q?", ""]}
    (ignored,) = taken(TAKEN["xdata-only-ignored"])
    assert ignored["xdata"] == ""  # only key-exchange and hash blocks: nothing kept, NULL
    (plain,) = taken(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15)))
    assert plain["xdata"] == ""


def test_utf8_text_is_stored_as_sent() -> None:
    (row,) = taken(TAKEN["utf8-xdata"])
    assert row["extended"] == "ITEST àäâèéêïîöôü\x1eRKüche"
    assert json.loads(row["xdata"]) == {"text": "TEST àäâèéêïîöôü", "room": "Küche"}
    (row,) = taken(TAKEN["utf8-xdata-wide"])
    assert json.loads(row["xdata"])["text"] == "警報 \U0001f6a8"
    assert [row["code"] for row in taken(TAKEN["utf8-sia-data"])] == ["BA", "BR", "CL"]


def test_a_user_code_puts_the_address_in_the_user_field() -> None:
    (opening,) = taken(frame_of("ADM-CID", cid_data("1234", 1, 401, 1, 7)))
    assert (opening["zone"], opening["partition"], opening["user_number"]) == ("", "01", "007")
    (burglary,) = taken(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 7)))
    assert (burglary["zone"], burglary["partition"], burglary["user_number"]) == ("007", "01", "")
    # SIA: the code's digits name the user of a closing and win over the id modifier; a zone code keeps both.
    closing, alarm, bare = taken(frame_of("SIA-DCS", "#1234|Nri1/id9/CL007/BA015/CL"))
    assert (closing["code"], closing["zone"], closing["partition"], closing["user_number"]) == ("CL", "", "1", "007")
    assert (alarm["code"], alarm["zone"], alarm["partition"], alarm["user_number"]) == ("BA", "015", "1", "9")
    assert (bare["code"], bare["zone"], bare["user_number"]) == ("CL", "", "9")


def test_several_sia_events_carry_their_modifiers_forward() -> None:
    rows = taken(frame_of("SIA-DCS", "#1234|Nri1/BA015/BR015/ri2/id3/CL003/OP"))
    assert [(row["event_index"], row["code"], row["partition"]) for row in rows] == [
        ("0", "BA", "1"),
        ("1", "BR", "1"),
        ("2", "CL", "2"),
        ("3", "OP", "2"),
    ]


def test_a_null_gives_no_rows() -> None:
    assert taken(frame_of("NULL", "")) == []
    assert taken(frame_of("NULL", "", key=KEY), KEY) == []


def lowercase_header(frame: bytes) -> bytes:
    return frame[:9].lower() + frame[9:]


def test_lowercase_hex_in_the_crc_and_length_fields() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), extended=("X",))
    assert frame[6:9] == b"03E"  # a letter in the length field
    taken(lowercase_header(frame))
    for sequence in range(20):  # and some with letters in the CRC
        frame = frame_of("SIA-DCS", "#1234|NBA015", sequence=sequence, extended=("X",))
        taken(lowercase_header(frame))


@pytest.mark.parametrize(
    "frame",
    [
        frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))[1:],  # no LF
        frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))[1:-1],  # neither LF nor CR
        frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15)) + b"\x00\x00 \t\r\n",  # trailing noise
    ],
    ids=["no-lf", "bare", "noise"],
)
def test_framing_variants(frame: bytes) -> None:
    (row,) = taken(frame)
    assert row["raw_frame"] == frame.hex()


def test_received_at_across_the_calendar() -> None:
    # The window around midnight on New Year's Eve and around a leap day.
    for now, offset in [
        (datetime(2026, 12, 31, 23, 59, 50, 999999, tzinfo=UTC), 15),
        (datetime(2027, 1, 1, 0, 0, 10, tzinfo=UTC), -35),
        (datetime(2028, 2, 29, 0, 0, 5, 1, tzinfo=UTC), -20),
        (datetime(2028, 3, 1, 0, 0, 5, tzinfo=UTC), -20),
    ]:
        stamp = now.replace(microsecond=0) + timedelta(seconds=offset)
        taken(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), stamp=stamp), now=now)
        taken(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), stamp=stamp, key=KEY), KEY, now=now)


def test_plain_unenforced_frames_take_any_real_date() -> None:
    for stamp in [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        SECOND - timedelta(days=400),
    ]:
        (row,) = taken(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), stamp=stamp), enforce=False)
        assert row["panel_time"] == stamp.isoformat()


def test_fragments_are_memoised_without_changing_rows() -> None:
    frame = frame_of("SIA-DCS", "#1234|NBA015/BA016/XZ1")
    assert taken(frame) == taken(frame)


# ---- the timestamp window, at its edges ----


@pytest.mark.parametrize(("offset", "inside"), [(-41, False), (-40, True), (0, True), (20, True), (21, False)])
@pytest.mark.parametrize("now", [NOW, NOW_WHOLE, NOW.replace(microsecond=999999)], ids=["fraction", "whole", "late"])
def test_the_window_edges(offset: int, inside: bool, now: datetime) -> None:
    stamp = now.replace(microsecond=0) + timedelta(seconds=offset)
    data = cid_data("1234", 1, 130, 1, 15)
    encrypted = frame_of("ADM-CID", data, stamp=stamp, key=KEY)
    plain = frame_of("ADM-CID", data, stamp=stamp)
    if inside:
        taken(encrypted, KEY, now)
        taken(plain, None, now, enforce=True)
    else:
        assert reason(declined(encrypted, KEY, now)) is RejectReason.TIMESTAMP
        assert reason(declined(plain, None, now, enforce=True)) is RejectReason.TIMESTAMP
    taken(plain, None, now, enforce=False)  # unenforced, any real time is stored as sent


# ---- frames left to the reference ----


def test_binary_crc() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))
    binary = encode_frame("ADM-CID", 42, "1234", cid_data("1234", 1, 130, 1, 15), timestamp=SECOND, crc_binary=True)
    assert binary[1:3] == int(frame[1:5], 16).to_bytes(2, "big")
    assert isinstance(declined(binary), Message)


def test_wrong_crc() -> None:
    frame = bytearray(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15)))
    frame[4] = ord("0") if frame[4] != ord("0") else ord("1")
    assert reason(declined(bytes(frame))) is RejectReason.CRC
    assert fastpath.peek_account(bytes(frame)) == "1234"  # the CRC is not checked yet


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_length(delta: int) -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))
    length = int(frame[6:9], 16) + delta
    frame = frame[:6] + b"%03X" % length + frame[9:]
    assert reason(declined(frame)) is RejectReason.LENGTH
    assert fastpath.peek_account(frame) is None


@pytest.mark.parametrize("kind", ["ADM-XYZ", "adm-cid", "SIA-DCS2", "ACK", "NAK", "DUH", "NUL"])
def test_unsupported_types(kind: str) -> None:
    assert reason(declined(frame_of(kind, cid_data("1234", 1, 130, 1, 15)))) is RejectReason.UNSUPPORTED
    assert reason(declined(frame_of(kind, "", key=KEY), KEY)) is RejectReason.UNSUPPORTED


def test_encrypted_without_a_key() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), key=KEY)
    assert reason(declined(frame, None)) is RejectReason.NO_KEY
    assert reason(declined(frame, b"short")) is RejectReason.NO_KEY
    assert reason(declined(frame, KEY[:15] + b"\x00")) is RejectReason.DECRYPT  # wrong key
    assert reason(declined(frame, KEYS[32])) is RejectReason.DECRYPT


def test_plain_with_a_key() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))
    assert reason(declined(frame, KEY)) is RejectReason.UNENCRYPTED


def test_relayed_data_account() -> None:
    for frame in [
        frame_of("ADM-CID", "#5678|1130 01 015"),
        frame_of("ADM-CID", "#12345|1130 01 015"),
        frame_of("ADM-CID", "#123|1130 01 015"),
        frame_of("SIA-DCS", "#5678|NBA015"),
        frame_of("ADM-CID", "#5678|1130 01 015", key=KEY),
    ]:
        message = declined(frame, KEY if b'"*' in frame else None)
        assert isinstance(message, Message), message
        assert message.data_account is not None
        assert message.data_account.upper() != message.envelope.account.upper()


def test_hikvision_null_with_a_dummy_block() -> None:
    # A capture (eavanvalkenburg/sia #17): the dummy block's account differs from the header's, which does not
    # matter for a link test (nothing is stored), so the fast path answers it.
    frame = wrap(b'"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020')
    assert taken(frame, None, datetime(2020, 7, 5, 18, 26, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("data", "texts"),
    [
        ("#1234|NBA015^Hall^", ["Hall"]),
        ("#1234|Nri1/BA015^Hall", ["Hall"]),  # unclosed: to the end of the block
        ("#1234|Nri1^Ground floor^/BA015", [None]),  # after a modifier: dropped
        ("#1234|NBA015 / ^ Hall  ^BR016^^", ["Hall", None]),  # separators in between; an empty text
        ("#1234|NBA015^Hall^^Door^/BR016^Küche^", ["Hall", "Küche"]),  # a second text in a row is dropped
        ("#1234|NBA015^\u3000Wohnzimmer S\u00fcd\u00a0\u2028^", ["Wohnzimmer Süd"]),  # Unicode white space
        ("#1234|NBA015^\u00a0\u0085 ^", [None]),
        ("#1234|NBA015^Tür/Fenster 1^CL3", ["Tür/Fenster 1", None]),
        ("#1234|N/^Lobby^BA015", [None]),  # before any event: dropped
        ("#1234|NBA015^警報 \U0001f6a8^", ["警報 \U0001f6a8"]),
    ],
)
@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "aes"])
def test_sia_text_takes_the_fast_path(data: str, texts: list[str | None], key: bytes | None) -> None:
    panel = PanelInfo(account="1234", panel_id=5, site_id=6, customer_id=7, key=key)
    frame = frame_of("SIA-DCS", data, key=key)
    rows = taken(frame, key, panel=panel)
    message = reference(frame, key)
    assert isinstance(message, Message)
    assert [event.text for event in message.events] == texts
    for row, text in zip(rows, texts, strict=True):
        assert row["description"].endswith(f" — {text}") is (text is not None)


@pytest.mark.parametrize("data", ["#1234|NBA015|AHall", "#1234|NBA015/BR016|A", "#1234|NBA015|NCL1"])
def test_sia_text_blocks_are_left_to_the_reference(data: str) -> None:
    message = declined(frame_of("SIA-DCS", data))
    assert isinstance(message, Message), message
    assert message.events


@pytest.mark.parametrize(
    ("kind", "data", "extended"),
    [
        ("SIA-DCS", "#1234|NBA015é", ()),
        ("NULL", "é", ()),
        ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ("ITEST àäâèéêïîöôü",)),
        ("SIA-DCS", "#1234|Nri1/BA015", ("RKüche", "I\U0001f525 \u00a0", "L\u2028")),
    ],
)
@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "aes"])
def test_utf8_data_takes_the_fast_path(kind: str, data: str, extended: tuple[str, ...], key: bytes | None) -> None:
    panel = PanelInfo(account="1234", panel_id=5, site_id=6, customer_id=7, key=key)
    taken(frame_of(kind, data, extended=extended, key=key), key, panel=panel)


@pytest.mark.parametrize(
    ("kind", "data", "extended"),
    [
        ("SIA-DCS", "#1234|NBA015\t", ()),
        ("SIA-DCS", "#1234|NBA015\x7f", ()),
        ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ("X\x1fY",)),
        ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ("X\x00",)),
        ("ADM-CID", cid_data("1234", 1, 130, 1, 15) + "\u00a0", ()),  # Unicode white space: Python's \s
    ],
)
@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "aes"])
def test_control_characters_are_left_to_the_reference(
    kind: str, data: str, extended: tuple[str, ...], key: bytes | None
) -> None:
    assert isinstance(declined(frame_of(kind, data, extended=extended, key=key), key), Message)


@pytest.mark.parametrize(
    "content",
    [
        b"#1234|NBA015]" + "[RK\u00fcche]".encode("cp1252"),  # Windows-1252 x-data
        b"#1234|NBA015\xe9]",  # Windows-1252 data
        b"#1234|NBA015]" + "[R\ud800]".encode("utf-8", "surrogatepass"),  # a surrogate is not UTF-8
        b"#1234|NBA015]" + b"[R\xc0\xaf]",  # an overlong form
        b"#1234|NBA015]" + b"[R\xf4\x90\x80\x80]",  # past U+10FFFF
        b"#1234|NBA015]" + b"[R\xe2\x82]",  # cut short
    ],
)
def test_text_that_is_not_utf8_is_left_to_the_reference(content: bytes) -> None:
    frame = wrap(b'"SIA-DCS"0042L0#1234[' + content + b"_12:00:00,11-21-2026")
    message = declined(frame)
    assert isinstance(message, Message)
    assert message.events[0].code == "BA"


@pytest.mark.parametrize("modifier", ["ti12:30", "da2026-11-21", "pi003", "ti", "ti-1.5"])
def test_sia_time_date_and_peripheral_modifiers_are_left_to_the_reference(modifier: str) -> None:
    for data in (f"#1234|N{modifier}/BA015", f"#1234|Nri1/BA015/{modifier}", f"#1234|N{modifier}BA015"):
        assert isinstance(declined(frame_of("SIA-DCS", data)), Message)


def test_more_than_64_events() -> None:
    data = "#1234|N" + "/".join(f"BA{zone:03d}" for zone in range(65))
    for key in (None, KEY):
        message = declined(frame_of("SIA-DCS", data, key=key), key)
        assert isinstance(message, Message)
        assert len(message.events) == 65


def test_plain_without_a_timestamp() -> None:
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), stamp=None)
    message = declined(frame, enforce=False)
    assert isinstance(message, Message)
    assert message.panel_time is None
    assert reason(declined(frame, enforce=True)) is RejectReason.TIMESTAMP


@pytest.mark.parametrize("stamp", [b"12:00:00,02-30-2026", b"24:00:00,11-21-2026", b"12:00:00,11-21-0000"])
def test_plain_with_an_impossible_timestamp(stamp: bytes) -> None:
    frame = wrap(b'"ADM-CID"0042L0#1234[#1234|1130 01 015]_' + stamp)
    message = declined(frame, enforce=False)
    assert isinstance(message, Message)
    assert message.panel_time is None
    assert reason(declined(frame, enforce=True)) is RejectReason.TIMESTAMP


@pytest.mark.parametrize(
    "data",
    ["#1234|1130 01 01", "#1234|2130 01 015", "#1234|1130 01 015 1", "#1234", "", "#1234|", "#1234|N", "#1234|Nri1"],
)
def test_undecodable_events(data: str) -> None:
    kind = "SIA-DCS" if "N" in data else "ADM-CID"
    assert reason(declined(frame_of(kind, data))) is RejectReason.BAD_DATA


@pytest.mark.parametrize(
    "body",
    [
        b'"ADM-CID"0042L0[1130 01 015]_12:00:00,11-21-2026',  # no account
        b'"ADM-CID"0042L0A0[1130 01 015]_12:00:00,11-21-2026',  # a NAK's A0
        b'"ADM-CID"0042L1234567#1234[1130 01 015]_12:00:00,11-21-2026',  # line too long
        b'"ADM-CID"0042R1234567L0#1234[1130 01 015]_12:00:00,11-21-2026',  # receiver too long
        b'"ADM-CID"0042RL0#1234[1130 01 015]_12:00:00,11-21-2026',  # empty receiver
        b'"ADM-CID"0042L0#12[1130 01 015]_12:00:00,11-21-2026',  # account too short
        b'"ADM-CID"0042L0#12345678901234567[1130 01 015]_12:00:00,11-21-2026',  # account too long
        b'"ADM-CID"042L0#1234[1130 01 015]_12:00:00,11-21-2026',  # short sequence
        b'"ADM-CID"0042L0#1234[1130 01 015]_12:00:00,11-21-2026x',  # junk after the timestamp
        b'"ADM-CID"0042L0#1234[1130 01 015]x[X1]_12:00:00,11-21-2026',  # junk before x-data
        b'"ADM-CID"0042L0#1234[1130 01 015]__12:00:00,11-21-2026',
        b'"ADM-CID"0042L0#1234[1130 01 015',  # no closing bracket
        b'"*ADM-CID"0042L0#1234[0123456789ABCDEF0123456789ABCDE]',  # not whole blocks
        b'"*ADM-CID"0042L0#1234[0123456789ABCDEF0123456789ABCDEG]',  # not hex
        b'"*ADM-CID"0042L0#1234[]',
    ],
)
def test_malformed_frames(body: bytes) -> None:
    for key in (None, KEY):
        result = declined(wrap(body), key)
        assert isinstance(result, Rejection), result


# ---- peek_account ----


def test_peek_account() -> None:
    assert fastpath.peek_account(frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15), account="abC123")) == "abC123"
    assert fastpath.peek_account(frame_of("NULL", "", account="0123456789ABCDEF", key=KEY)) == "0123456789ABCDEF"
    assert fastpath.peek_account(frame_of("ACK", "")) is None
    assert fastpath.peek_account(b"") is None
    assert fastpath.peek_account(b"\n") is None
    assert fastpath.peek_account(b"\n" + b"\x00" * 8) is None
    assert fastpath.peek_account(b"x" * 5000) is None


# ---- properties: frames built from generated parameters ----

HEX = "0123456789ABCDEFabcdef"
NOWS = [
    NOW,
    NOW_WHOLE,
    datetime(2026, 12, 31, 23, 59, 50, 999999, tzinfo=UTC),
    datetime(2028, 2, 29, 0, 0, 10, 1, tzinfo=UTC),
]
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "]")
# Non-ASCII text panels send (accents, CJK, emoji, Unicode spaces and separators): UTF-8 on the wire.
WIDE = "àäéüßØπ≈警報\U0001f6a8\u00a0\u0085\u2028\u3000\ufeff\u1680\u2000\u200a\u200b\u202f\u205f"
SIA_TEXT = "".join(c for c in PRINTABLE if c not in "^|") + WIDE + "  "


@st.composite
def xdata_block(draw: st.DrawFn) -> str:
    """An x-data block: a kind DC-09 defines with a value of its shape, or any text (ASCII or not)."""
    value = draw(
        st.text(PRINTABLE, max_size=12)
        | st.text(PRINTABLE + WIDE, max_size=12)
        | st.sampled_from(["115.5", "-32.2", "E8.54", "47.37N", "12m", "0026B9E4268B", "http://cam/1", "12:00:00"])
    )
    return draw(st.sampled_from("XYZMVIHLRSOKQ") | st.just("")) + value


def case_variant(draw: st.DrawFn, account: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(account), max_size=len(account)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(account, flips, strict=True))


@dataclass(frozen=True)
class Generated:
    frame: bytes
    key: bytes | None
    now: datetime
    enforce: bool
    panel: PanelInfo | None
    common: bool  # of the shape the fast path must take


@st.composite
def data_account(draw: st.DrawFn, account: str) -> tuple[str, bool]:
    """The data block's "#acct|" prefix, and whether it keeps the frame on the fast path."""
    choice = draw(st.sampled_from(["none", "same", "same", "bar", "empty", "other"]))
    if choice == "none":
        return "", True
    if choice == "same":
        return f"#{case_variant(draw, account)}|", True
    if choice == "bar":
        return "|", True
    if choice == "empty":
        return "#|", True
    other = draw(st.text(HEX, min_size=1, max_size=17))
    return f"#{other}|", other.upper() == account.upper()


@st.composite
def cid_block(draw: st.DrawFn) -> str:
    spaces = [draw(st.sampled_from(["", "", " ", "   "])) for _ in range(5)]
    qualifier = draw(st.sampled_from("136"))
    code, partition, zone = draw(st.integers(0, 999)), draw(st.integers(0, 99)), draw(st.integers(0, 999))
    return f"{spaces[0]}{qualifier}{spaces[1]}{code:03d}{spaces[2]}{partition:02d}{spaces[3]}{zone:03d}{spaces[4]}"


SIA_CODES = ["BA", "BR", "CL", "OP", "NA", "NN", "RP", "TA", "FA", "YX", "CG", "OG", "NL"]


@st.composite
def sia_block(draw: st.DrawFn) -> tuple[str, int, bool]:
    """A SIA-DCS block without text, its number of events, and whether it has a ti, da or pi modifier."""
    items = []
    events = 0
    modifiers = False
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(["ri", "id", "ti", "pi", "da", "lm", "ri", "id"]))
            items.append(name + draw(st.text("0123456789:.-", max_size=4)))
            modifiers = modifiers or name in ("ti", "pi", "da")
        else:
            code = draw(st.sampled_from(SIA_CODES) | st.text(string.ascii_uppercase, min_size=2, max_size=2))
            items.append(code + draw(st.text(string.digits, max_size=4)))
            events += 1
        if draw(st.integers(0, 3)) == 0:  # a text naming the item before it
            items[-1] += "^" + draw(st.text(SIA_TEXT, max_size=10)) + "^"
    block = items[0]
    for item in items[1:]:
        block += draw(st.sampled_from(["/", " ", "/ ", "  "])) + item
    if block.endswith("^") and draw(st.booleans()):
        block = block[:-1]  # the last text left open: it runs to the end of the block
    prefix = draw(st.sampled_from(["", "N", "N", "N/"]))
    return prefix + block, events, modifiers


@st.composite
def generated_frames(draw: st.DrawFn) -> Generated:
    kind = draw(st.sampled_from(["ADM-CID", "SIA-DCS", "NULL"]))
    account = draw(st.text(HEX, min_size=3, max_size=16))
    now = draw(st.sampled_from(NOWS))
    enforce = draw(st.booleans())
    size = draw(st.sampled_from([None, None, 16, 24, 32]))
    key = draw(st.binary(min_size=size, max_size=size)) if size else None
    prefix, common = draw(data_account(account))
    if kind == "ADM-CID":
        data = prefix + draw(cid_block())
    elif kind == "SIA-DCS":
        block, events, modifiers = draw(sia_block())
        data = prefix + block
        common = common and events > 0 and not modifiers
    else:
        data = draw(st.sampled_from(["", prefix + "0000 00 000", prefix]))
    offset = draw(st.integers(-45, 25) | st.sampled_from([-41, -40, 20, 21]))
    stamp: datetime | None = now.replace(microsecond=0) + timedelta(seconds=offset)
    if key is None and not enforce:
        stamp = draw(st.sampled_from([stamp, None, now - timedelta(days=3, seconds=7)]))
    if stamp is None or ((key is not None or enforce) and not -40 <= offset <= 20):
        common = False
    extended = tuple(draw(st.lists(xdata_block(), max_size=3)))
    pad = draw(st.none() | st.binary(min_size=16, max_size=16).filter(lambda pad: not set(pad) & set(b"|[]")))
    frame = encode_frame(
        kind,
        draw(st.integers(0, 9999)),
        account,
        data,
        receiver=draw(st.none() | st.text(HEX, min_size=1, max_size=6)),
        line=draw(st.text(HEX, max_size=6)),
        extended=extended,
        timestamp=stamp,
        key=key,
        pad=pad if key is not None else None,
    )
    if draw(st.booleans()):
        frame = lowercase_header(frame)
    if draw(st.booleans()):
        frame = frame[1:]  # no LF
    frame += draw(st.sampled_from([b"", b"", b"\x00", b"\r\n", b" \t"]))
    panel = None
    if draw(st.booleans()):
        panel = PanelInfo(account=account.upper(), panel_id=1, site_id=2, customer_id=3, key=key)
    return Generated(frame, key, now, enforce, panel, common)


@settings(max_examples=400, deadline=None)
@given(generated_frames())
def test_generated_frames(case: Generated) -> None:
    fast = compare(case.frame, case.key, case.now, enforce=case.enforce, panel=case.panel)
    if case.common:
        assert fast is not None, reference(case.frame, case.key, case.now, enforce=case.enforce)


# ---- properties: mutated frames and arbitrary bytes ----


def refresh(frame: bytes, fix_length: bool) -> bytes:
    """``frame`` with its CRC (and length field) recomputed, so that a mutation gets past them."""
    start = 1 if frame[:1] == b"\n" else 0
    end = len(frame.rstrip(NOISE))
    if end - start < 9:
        return frame
    body = frame[start + 8 : end]
    length = b"0%03X" % len(body) if fix_length and len(body) <= 0xFFF else frame[start + 4 : start + 8]
    return frame[:start] + b"%04X" % crc16_arc(body) + length + frame[start + 8 :]


SPECIAL = b'\n\r\x00 "*#[]|^/_:,-0123456789ABLRNabrid\x1e\x1f\x7f\x80\xe9\xff'


def mutate(draw: st.DrawFn, data: bytes, focus: int) -> bytes:
    """1 to 3 random edits of ``data``, most of them at or after ``focus`` (the data block)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(min(focus, len(out)), len(out)) | st.integers(0, len(out)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "duplicate"]))
        byte = draw(st.sampled_from(SPECIAL) | st.integers(0, 255))
        if action == "insert" or not out:
            out[position:position] = bytes([byte])
        elif action == "delete":
            del out[min(position, len(out) - 1) : position + draw(st.integers(1, 8))]
        elif action == "duplicate":
            out[position:position] = out[position : position + draw(st.integers(1, 40))]
        else:
            out[min(position, len(out) - 1)] = byte
    return bytes(out)


def cbc_encrypt(key: bytes, plaintext: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return (encryptor.update(plaintext) + encryptor.finalize()).hex().upper().encode()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes | None, datetime, bool]:
    case = draw(generated_frames())
    env = parse_envelope(case.frame)
    assert isinstance(env, Envelope)
    body_start = case.frame.index(b"[") + 1
    if env.encrypted and case.key is not None and draw(st.booleans()):
        # Edit the plaintext, then encrypt it again: the edits get past the CRC and the AES.
        plaintext = decrypt_region(case.key, env.body)
        assert plaintext is not None
        edited = mutate(draw, plaintext, 0)
        edited = b"p" * (-len(edited) % 16) + edited
        result = wrap(case.frame[case.frame.index(b'"') : body_start] + cbc_encrypt(case.key, edited))
    else:
        result = mutate(draw, case.frame, body_start)
        fix = draw(st.sampled_from(["none", "crc", "both", "both", "both", "both", "both"]))
        if fix != "none":
            result = refresh(result, fix == "both")
    key = draw(st.sampled_from([case.key, case.key, case.key, None, KEY, KEYS[32], b"short"]))
    return result, key, case.now, case.enforce


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_mutated_frames(case: tuple[bytes, bytes | None, datetime, bool]) -> None:
    frame, key, now, enforce = case
    compare(frame, key, now, enforce=enforce)
    compare(frame, key, now, enforce=enforce, panel=PANEL)


# Mostly the pieces of valid data blocks, some junk; the valid timestamps and headers are repeated to weight them.
DATA_PREFIXES = [b"", b"#1234|", b"#ABCD|", b"#abcd|", b"|", b"#|", b"#", b"#5678|", b"N", b"N/", b"1"]
DATA_SOUP = [
    *[b"1", b"3", b"6", b"130", b"401", b" ", b"01", b"015"] * 2,
    *[b"N", b"ri1", b"id2", b"ri", b"ti12:00", b"/", b" ", b"BA", b"CL", b"NA", b"BA015", b"OP3"] * 3,
    *[b"[", b"|", b"#", b"^", b"A", b"a", b"_", b"]", b"\xc3\xa9", b"\x00", b"\x1f", b"\x7f", b"\xff", b"\t"],
    *[
        b"^",
        b"Hall",
        b" ",
        b"\xc2\xa0",
        b"\xc2\x85",
        b"\xe3\x80\x80",
        b"\xe2\x80\xa8",
        b"\xe2\x80\x8b",
        b"\xf0\x9f\x9a\xa8",
    ],
]
BLOCK_SOUP = [b"[X1]", b"[X1]", b"[]", b"[a[b]", b"[", b"]", b"X1", b"[\x1e]", b"[\xe9]", b"_"]
STAMPS = [
    *[b"_12:00:00,11-21-2026"] * 8,
    b"",
    b"_12:00:00,11-21-2026",
    b"_11:59:20,11-21-2026",
    b"_11:59:19,11-21-2026",
    b"_12:00:20,11-21-2026",
    b"_12:00:21,11-21-2026",
    b"12:00:00,11-21-2026",
    b"__12:00:00,11-21-2026",
    b"_12:00:00,02-29-2026",
    b"_12:00:00,11-21-2026 ",
]
HEADERS = [
    *[b'"ADM-CID"0042L0#1234[', b'"SIA-DCS"0001R1L#abcd[', b'"NULL"9999L12#ABCD['] * 4,
    b'"SIA-DCS"0001L0#1234',
    b'"ADM-CID"0042L0#1234#1234[',
    b'"SIA-DCS"0042R1L0A0[',
]


@settings(max_examples=500, deadline=None)
@given(
    header=st.sampled_from(HEADERS)
    | st.lists(st.sampled_from([b'"', b"*", b"ADM-CID", b"0042", b"R1", b"L0", b"#1234", b"["]), max_size=10).map(
        b"".join
    ),
    data=st.tuples(st.sampled_from(DATA_PREFIXES), st.lists(st.sampled_from(DATA_SOUP), max_size=12)).map(
        lambda parts: parts[0] + b"".join(parts[1])
    ),
    blocks=st.lists(st.sampled_from(BLOCK_SOUP), max_size=4).map(b"".join),
    stamp=st.sampled_from(STAMPS),
    close=st.sampled_from([True, True, True, False]),
    encrypted=st.booleans(),
    enforce=st.booleans(),
)
def test_delimiter_soup(
    header: bytes, data: bytes, blocks: bytes, stamp: bytes, close: bool, encrypted: bool, enforce: bool
) -> None:
    content = data + (b"]" if close else b"") + blocks + stamp
    if encrypted and header.startswith(b'"'):
        frame = wrap(b'"*' + header[1:] + encrypt_region(KEY, content))
        keys: tuple[bytes | None, ...] = (KEY, None)
    else:
        frame = wrap(header + content)
        keys = (None, KEY)
    for key in keys:
        compare(frame, key, enforce=enforce)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes(data: bytes, framed: bool) -> None:
    frame = wrap(b'"' + data) if framed else data
    for key in (None, KEY):
        compare(frame, key)
        compare(frame, key, enforce=False)


def test_oversized_frames() -> None:
    body = b'"SIA-DCS"0001L0#1234[#1234|N' + b"/BA1" * 1000 + b"]_12:00:00,11-21-2026"
    frame = b"\n" + b"%04X" % crc16_arc(body) + b"0FFF" + body + b"\r"  # the length field cannot say it
    assert compare(frame, None) is None
    assert fastpath.peek_account(frame) is None
    assert compare(frame + b"\x00" * 5000, None) is None


def test_a_clock_not_in_utc_takes_the_reference_path() -> None:
    # The C code reads a datetime's fields as UTC; any other zone (or a naive time) goes to the reference.
    frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, 15))
    one_hour_east = NOW.astimezone(timezone(timedelta(hours=1)))
    head = row_head("1234", None, TRANSPORT, PEER)
    assert fastpath.decode(frame, None, one_hour_east, True, head) is None
    assert fastpath.decode(frame, None, NOW.replace(tzinfo=None), True, head) is None
    assert fastpath.decode(frame, None, NOW, True, head) is not None
    # ack() converts: the panel gets the receiver's time in GMT whatever zone the caller's clock uses.
    decoded = fastpath.decode(frame, None, NOW, True, head)
    assert decoded is not None
    parsed = parse_answer(fastpath.ack(decoded[1], KEY, one_hour_east), KEY)
    assert isinstance(parsed, Answer)
    assert parsed.timestamp == NOW.replace(microsecond=0)


def test_many_keys_share_the_cipher_cache_without_mixing_them_up() -> None:
    # The C code keeps keyed AES contexts in 256 slots: 600 keys (of all three sizes) collide and re-key slots.
    for number in range(600):
        size = (16, 24, 32)[number % 3]
        key = number.to_bytes(4, "big") * (size // 4)
        frame = frame_of("ADM-CID", cid_data("1234", 1, 130, 1, number % 1000), key=key)
        taken(frame, key)
        assert fastpath.decode(frame, KEYS[16] if key != KEYS[16] else KEYS[32], NOW, True, "h") is None

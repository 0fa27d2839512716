"""DC-09 x-data typed (receiver/dc09/xdata.py), and stored as signals.xdata through the real receiver."""

from __future__ import annotations

import json

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.dc09 import Envelope, Event, Message, cid_data, encode_frame, open_message, parse_envelope
from receiver.dc09.wire import wrap
from receiver.dc09.xdata import decode_xdata
from receiver.signal_rows import row_xdata
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, PLAIN_ACCOUNT, Panel, now

# ---- each kind, decoded ----


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("X115.500", {"longitude": 115.5}),
        ("X-115.5", {"longitude": -115.5}),
        ("X+8.5417", {"longitude": 8.5417}),
        ("XW8.5", {"longitude": -8.5}),
        ("X8.5W", {"longitude": -8.5}),
        ("XE180", {"longitude": 180.0}),
        ("X8,5417", {"longitude": 8.5417}),  # a decimal comma
        ("X 8.5 ", {"longitude": 8.5}),
        ("Y47.3769", {"latitude": 47.3769}),
        ("YS32.25", {"latitude": -32.25}),
        ("Y32.25S", {"latitude": -32.25}),
        ("Y-90", {"latitude": -90.0}),
        ("Z12", {"altitude": 12.0}),
        ("Z-3.5m", {"altitude": -3.5}),
        ("M0026B9E4268B", {"mac": "00:26:b9:e4:26:8b"}),
        ("M00:26:b9:e4:26:8b", {"mac": "00:26:b9:e4:26:8b"}),
        ("M00-26-B9-E4-26-8B", {"mac": "00:26:b9:e4:26:8b"}),
        ("M0026.b9e4.268b", {"mac": "00:26:b9:e4:26:8b"}),
        ("Vhttps://video.example/clip?id=7", {"verification": "https://video.example/clip?id=7"}),
        ("VHTTP://10.0.0.5:8080/live", {"verification": "HTTP://10.0.0.5:8080/live"}),
        ("IPIR hall, door open", {"text": "PIR hall, door open"}),
        ("H12:00:05,11-21-2026", {"occurred_at": "2026-11-21T12:00:05+00:00"}),
        ("H_12:00:05,11-21-2026", {"occurred_at": "2026-11-21T12:00:05+00:00"}),
        ("H12:00:05 11-21-2026", {"occurred_at": "2026-11-21T12:00:05+00:00"}),
        ("H2026-11-21T12:00:05Z", {"occurred_at": "2026-11-21T12:00:05+00:00"}),
        ("H2026-11-21T13:00+01:00", {"occurred_at": "2026-11-21T13:00:00+01:00"}),
        ("H12:30", {"occurred_at": "12:30:00"}),
        ("LGround floor", {"location": "Ground floor"}),
        ("R Küche ", {"room": "Küche"}),
        ("SMain street 1", {"site": "Main street 1"}),
        ("OBuilding B", {"building": "Building B"}),
        ("N192.0.2.7", {"network_address": "192.0.2.7"}),
        ("T1", {"trigger": "1"}),
        ("J2", {"path": "2"}),
        ("C2P", {"supervision": "2P"}),
    ],
)
def test_each_kind_is_typed(block: str, expected: dict[str, object]) -> None:
    assert decode_xdata([block]) == expected


@pytest.mark.parametrize(
    "block",
    [
        "X115000",  # not degrees (no decimal point, past 180)
        "X180.5",
        "Y90.5",
        "XN45",  # a latitude's hemisphere on a longitude
        "X-E45",  # a sign and a hemisphere
        "XE45W",
        "Xabc",
        "X",
        "Z12km",
        "M0026B9E4268",  # 11 digits
        "M00:26-b9:e4:26:8b",  # mixed separators
        "MGG26B9E4268B",
        "Vjavascript:alert(1)",
        "Vftp://files.example/clip",
        "Vhttps://",
        "Vhttps://video.example/a b",
        "V/relative/path",
        "V",
        "H24:00:00,11-21-2026",
        "H12:00:00,02-30-2026",
        "H25:00",
        "Hsoon",
        "R",
        "I   ",
        "Qsomething",  # no such kind
        "x115.5",  # kinds are upper case
        "",
    ],
)
def test_what_cannot_be_read_is_kept_as_sent(block: str) -> None:
    assert decode_xdata([block]) == {"unreadable": [block]}


def test_key_exchange_and_hashes_are_not_copied() -> None:
    assert decode_xdata(["K0123456789ABCDEF0123456789ABCDEF", "A0123456789AB", "Pprogram"]) == {}
    assert row_xdata(("K0123456789ABCDEF0123456789ABCDEF",)) == ""


def test_the_first_element_of_a_kind_wins_and_a_different_repeat_is_kept_raw() -> None:
    assert decode_xdata(["X1.5", "X1.50", "X2", "RHall", "RHall"]) == {
        "longitude": 1.5,
        "room": "Hall",
        "unreadable": ["X2"],
    }


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from("XYZMVHILRSOKQ") | st.text(max_size=2), max_size=4).flatmap(
        lambda kinds: st.tuples(*(st.text(max_size=30).map(lambda value, kind=kind: kind + value) for kind in kinds))
    )
)
def test_any_text_decodes_without_error_and_nothing_is_lost(blocks: tuple[str, ...]) -> None:
    decoded = decode_xdata(blocks)
    kept = [block for block in blocks if block[:1] not in "AKP" or not block]
    unreadable = decoded.get("unreadable", [])
    assert isinstance(unreadable, list)
    assert set(unreadable) <= set(kept)
    assert len(decoded) - ("unreadable" in decoded) + len(unreadable) <= len(kept)
    if kept:
        assert decoded  # every element kept is typed or unreadable
    text = row_xdata(blocks)
    assert not set(text) & {"\x1f", "\x1e", "\x00"}
    assert (json.loads(text) if text else {}) == {
        name: [item.replace("\x00", "") for item in value] if isinstance(value, list) else value
        for name, value in decoded.items()
    }


def test_row_xdata_adds_the_events_sia_modifiers() -> None:
    event = Event("SIA-DCS", "BA", "event", "015", "1", time="12:30", date="2026-11-21", peripheral="003")
    assert row_xdata(("X1.5", "Q"), event) == (
        '{"longitude":1.5,"unreadable":["Q"],"time":"12:30","date":"2026-11-21","peripheral":"003"}'
    )
    assert row_xdata((), event) == '{"time":"12:30","date":"2026-11-21","peripheral":"003"}'
    assert row_xdata((), Event("SIA-DCS", "BA", "event", "015", "1")) == ""
    assert row_xdata(()) == ""


def test_row_xdata_is_safe_in_a_row_and_in_jsonb() -> None:
    text = row_xdata(('I\x1fa\x1eb\x00c"d\\', "R\x00"))
    assert not set(text) & {"\x1f", "\x1e", "\x00"}
    assert "\\u0000" not in text  # jsonb refuses it even escaped
    assert text == '{"text":"a\\u001ebc\\"d\\\\","unreadable":["R"]}'  # \x1f is white space to str.strip


# ---- stored through the real receiver ----

EVERY_KIND = (
    "X8.5417",
    "Y47.3769",
    "Z408m",
    "M00-26-B9-E4-26-8B",
    "Vhttps://video.example/clip?id=7",
    "IPIR hall",
    "H12:00:05,11-21-2026",
    "LGround floor",
    "RKüche",
    "SMain street 1",
    "X900",  # unreadable, and a second longitude
    "Vjavascript:alert(1)",  # not a link
)
EVERY_KIND_TYPED = {
    "longitude": 8.5417,
    "latitude": 47.3769,
    "altitude": 408,
    "mac": "00:26:b9:e4:26:8b",
    "verification": "https://video.example/clip?id=7",
    "text": "PIR hall",
    "occurred_at": "2026-11-21T12:00:05+00:00",
    "location": "Ground floor",
    "room": "Küche",
    "site": "Main street 1",
    "unreadable": ["X900", "Vjavascript:alert(1)"],
}


async def stored(db: asyncpg.Pool, account: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT code, extended, xdata FROM signals WHERE account = $1 ORDER BY id", account)


async def test_every_kind_round_trips_into_the_typed_column(panel: Panel, db: asyncpg.Pool) -> None:
    frame = encode_frame(
        "ADM-CID", 1, PLAIN_ACCOUNT, cid_data(PLAIN_ACCOUNT, 1, 130, 1, 15), extended=EVERY_KIND, timestamp=now()
    )
    answer = await panel.exchange(frame)
    assert (answer.kind, answer.sequence) == ("ack", "0001")  # unreadable elements do not refuse the frame
    [row] = await stored(db, PLAIN_ACCOUNT)
    assert row["xdata"] == EVERY_KIND_TYPED
    assert row["extended"] == list(EVERY_KIND)  # the raw list, as sent


async def test_encrypted_and_several_events_share_the_messages_xdata(panel: Panel, db: asyncpg.Pool) -> None:
    frame = encode_frame(
        "SIA-DCS",
        2,
        AES_ACCOUNT,
        "#5678|Nri1/BA015/BR015",
        extended=("X-1.5", "Y2.25", "Q?"),
        timestamp=now(),
        key=AES_KEY,
    )
    answer = await panel.exchange(frame, AES_KEY)
    assert (answer.kind, answer.encrypted) == ("ack", True)
    rows = await stored(db, AES_ACCOUNT)
    assert [(row["code"], row["xdata"]) for row in rows] == [
        ("BA", {"longitude": -1.5, "latitude": 2.25, "unreadable": ["Q?"]}),
        ("BR", {"longitude": -1.5, "latitude": 2.25, "unreadable": ["Q?"]}),
    ]


async def test_the_reference_codec_stores_the_same_xdata(panel: Panel, db: asyncpg.Pool) -> None:
    # Windows-1252 x-data and a SIA text block: both are the Python codec's (the fast path leaves them to it).
    body = (
        b'"SIA-DCS"0003L0#1234[#1234|NBA015^Hall^][RK\xfcche][X-1.5][Vhttp://cam/1]_'
        + now().strftime("%H:%M:%S,%m-%d-%Y").encode()
    )
    answer = await panel.exchange(wrap(body))
    assert answer.kind == "ack"
    [row] = await stored(db, PLAIN_ACCOUNT)
    assert row["xdata"] == {"room": "Küche", "longitude": -1.5, "verification": "http://cam/1"}


async def test_a_message_without_xdata_or_modifiers_stores_null(panel: Panel, db: asyncpg.Pool) -> None:
    frame = encode_frame("ADM-CID", 4, PLAIN_ACCOUNT, cid_data(PLAIN_ACCOUNT, 1, 130, 1, 15), timestamp=now())
    assert (await panel.exchange(frame)).kind == "ack"
    [row] = await stored(db, PLAIN_ACCOUNT)
    assert row["xdata"] is None and row["extended"] == []


async def test_sia_modifiers_are_stored_beside_the_xdata(panel: Panel, db: asyncpg.Pool) -> None:
    # ti/da/pi are the reference codec's alone (the fast path leaves such events to it): the same JSON either way.
    data = "#1234|Nti12:30/da11-21-26/pi003/BA015/pi004/BR015"
    frame = encode_frame("SIA-DCS", 5, PLAIN_ACCOUNT, data, extended=("RHall",), timestamp=now())
    envelope = parse_envelope(frame)
    assert isinstance(envelope, Envelope)
    message = open_message(envelope, None, now(), enforce_window=False)
    assert isinstance(message, Message)
    assert (await panel.exchange(frame)).kind == "ack"
    rows = await stored(db, PLAIN_ACCOUNT)
    assert [row["xdata"] for row in rows] == [
        {"room": "Hall", "time": "12:30", "date": "2026-11-21", "peripheral": "003"},
        {"room": "Hall", "time": "12:30", "date": "2026-11-21", "peripheral": "004"},
    ]
    assert [row["xdata"] for row in rows] == [json.loads(row_xdata(message.extended, e)) for e in message.events]


@pytest.mark.parametrize("kind", list("XYZMH"))
def test_a_long_run_of_spaces_is_unreadable_at_once(kind: str) -> None:
    # Before the length limit, the patterns' optional spaces backtracked quadratically: 20,000 spaces in one
    # element held the event loop for several seconds. A panel-sized frame (max_frame_length) could hold more.
    block = kind + " " * 20_000 + "1 !"
    assert decode_xdata([block]) == {"unreadable": [block]}

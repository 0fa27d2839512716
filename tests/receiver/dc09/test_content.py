"""Tests for decoding Contact ID and SIA-DCS data blocks into events."""

import pytest

from receiver.dc09.content import decode_cid, decode_sia, split_account
from receiver.dc09.message import Event


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("#1234|1130 01 015", ("1234", "1130 01 015")),
        ("#B12345|1602 00 000", ("B12345", "1602 00 000")),
        ("|Nri1/CL501", (None, "Nri1/CL501")),
        ("Nri1/WA000", (None, "Nri1/WA000")),
        ("#1234", ("1234", "")),
        ("", (None, "")),
    ],
)
def test_split_account(data: str, expected: tuple[str | None, str]) -> None:
    assert split_account(data) == expected


@pytest.mark.parametrize("data", ["1130 01 015", "113001015", "1130  01  015", " 1130 01 015 ", "1 130 01 015"])
def test_cid_spacing_variants(data: str) -> None:
    assert decode_cid(data) == Event(
        format="ADM-CID", code="130", qualifier="event", zone_or_user="015", partition="01"
    )


@pytest.mark.parametrize(("q", "qualifier"), [("1", "event"), ("3", "restore"), ("6", "status")])
def test_cid_qualifiers(q: str, qualifier: str) -> None:
    event = decode_cid(f"{q}401 02 007")
    assert event is not None
    assert (event.code, event.qualifier, event.partition, event.zone_or_user) == ("401", qualifier, "02", "007")


@pytest.mark.parametrize("data", ["", "0000 00 000", "9130 01 015", "1130 01 01", "1130 01 0155", "E130 01 015"])
def test_cid_rejects_what_is_not_contact_id(data: str) -> None:
    assert decode_cid(data) is None


def sia(code: str, zone: str | None, partition: str | None, user: str | None = None, text: str | None = None) -> Event:
    return Event("SIA-DCS", code, "event", zone, partition, user, text)


def test_sia_single_event_with_new_prefix() -> None:
    assert decode_sia("NHB0003") == (sia("HB", "0003", partition=None),)


def test_sia_modifiers_carry_forward_until_changed() -> None:
    assert decode_sia("Nri1/id3/BA015/BA016/ri2/OP003") == (
        sia("BA", "015", partition="1", user="3"),
        sia("BA", "016", partition="1", user="3"),
        sia("OP", "003", partition="2", user="3"),
    )


def test_sia_several_events_in_one_block_without_slashes() -> None:
    assert decode_sia("NBA1BA2") == (sia("BA", "1", partition=None), sia("BA", "2", partition=None))


def test_sia_modifier_after_the_event_applies_to_later_events_only() -> None:
    assert decode_sia("NCL001/id0007") == (sia("CL", "001", partition=None),)


def test_sia_unknown_modifiers_are_skipped() -> None:
    expected = Event("SIA-DCS", "CL", "event", "001", "1", "0007", time="12:30")  # ti is read, pm skipped
    assert decode_sia("Nri1/id0007/pm03/ti12:30/CL001") == (expected,)


def test_sia_lupus_block_without_separators() -> None:
    assert decode_sia("Nri1CL0001^user^") == (sia("CL", "0001", partition="1", text="user"),)


def test_sia_caret_text_after_a_modifier_is_an_area_name_not_event_text() -> None:
    assert decode_sia("Nri01^TOTAL^/LX901") == (sia("LX", "901", partition="01"),)


def test_sia_caret_text_keeps_slashes_inside() -> None:
    assert decode_sia("Nri1CL0^VX/FRONTE ^") == (sia("CL", "0", partition="1", text="VX/FRONTE"),)


def test_sia_text_block_names_the_events_before_it() -> None:
    assert decode_sia("Nri1/BA015/BA016|AHall window|NBA017") == (
        sia("BA", "015", partition="1", text="Hall window"),
        sia("BA", "016", partition="1", text="Hall window"),
        sia("BA", "017", partition="1"),
    )


def test_sia_code_starting_with_n_is_not_taken_for_the_new_event_prefix() -> None:
    assert decode_sia("NA001") == (sia("NA", "001", partition=None),)
    assert decode_sia("NNA001") == (sia("NA", "001", partition=None),)


def test_sia_event_without_address() -> None:
    assert decode_sia("NRP") == (sia("RP", None, partition=None),)


@pytest.mark.parametrize("data", ["", "N", "Nri1", "nothing here", "|Atext only"])
def test_sia_without_event_code(data: str) -> None:
    assert decode_sia(data) == ()

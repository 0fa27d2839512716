"""Tests for the SIA-DCS modifiers ti/da/pi/ri/id and for data blocks whose account has no '#'."""

from datetime import UTC, datetime

import pytest

from receiver.dc09 import Envelope, Message, encode_frame, open_message, parse_envelope
from receiver.dc09.content import decode_cid, decode_sia, sia_date, sia_time, split_account
from receiver.dc09.message import Event

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def sia(
    code: str,
    zone: str | None,
    *,
    partition: str | None = None,
    user: str | None = None,
    text: str | None = None,
    time: str | None = None,
    date: str | None = None,
    peripheral: str | None = None,
) -> Event:
    return Event("SIA-DCS", code, "event", zone, partition, user, text, time, date, peripheral)


# ---- ti: time of the event ----


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12:30", "12:30"),
        ("12:30:45", "12:30:45"),
        ("00:00", "00:00"),
        ("23:59:59", "23:59:59"),
        ("9:05", "09:05"),  # a one-digit hour is unambiguous
        ("07:38", "07:38"),
    ],
)
def test_time_with_and_without_seconds(value: str, expected: str) -> None:
    assert sia_time(value) == expected
    assert decode_sia(f"Nti{value}/BA015") == (sia("BA", "015", time=expected),)


@pytest.mark.parametrize(
    "value",
    ["25:61", "24:00", "12:60", "12:30:60", "1230", "12:3", "12:30:4", "123:30", ":30", "12:", "-1.5", "12.30", ""],
)
def test_impossible_or_unreadable_time_is_none_and_the_event_is_kept(value: str) -> None:
    assert sia_time(value) is None
    assert decode_sia(f"Nri1/ti{value}/BA015") == (sia("BA", "015", partition="1"),)


# ---- da: date of the event ----


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12-05-26", "2026-12-05"),  # month first, as DC-03 writes it (mm-dd-yy)
        ("01-31-25", "2025-01-31"),
        ("02-29-28", "2028-02-29"),  # a leap year
        ("12-05-2026", "2026-12-05"),  # a four-digit year, as in DC-09's own timestamp
        ("1-5-26", "2026-01-05"),
    ],
)
def test_date_month_first_to_iso(value: str, expected: str) -> None:
    assert sia_date(value) == expected
    assert decode_sia(f"Nda{value}/BA015") == (sia("BA", "015", date=expected),)


@pytest.mark.parametrize(
    "value",
    ["13-01-26", "02-30-26", "02-29-27", "00-10-26", "12-00-26", "12-05", "12-05-026", "120526", "12.05.26", ""],
)
def test_impossible_or_unreadable_date_is_none_and_the_event_is_kept(value: str) -> None:
    assert sia_date(value) is None
    assert decode_sia(f"Nda{value}/id3/BA015") == (sia("BA", "015", user="3"),)


def test_date_and_time_back_to_back_without_separator() -> None:
    # Bosch's ADT SIA writes "damm-dd-yytihh:mm:ss" before the event.
    assert decode_sia("Nda12-05-26ti14:12:04BA01") == (sia("BA", "01", date="2026-12-05", time="14:12:04"),)


# ---- pi: peripheral ----


def test_peripheral_as_sent() -> None:
    # Honeywell Galaxy: "Ntixx:xx/rixx/iduuu/pixxx/EV".
    assert decode_sia("Nti10:15/ri01/id007/pi012/OP") == (
        sia("OP", None, partition="01", user="007", time="10:15", peripheral="012"),
    )


def test_empty_peripheral_is_none() -> None:
    assert decode_sia("Npi/BA1") == (sia("BA", "1"),)


# ---- carry-forward: like ri and id, every modifier applies to the events after it until it comes again ----


def test_modifiers_carry_forward_to_the_following_events() -> None:
    assert decode_sia("Nri1/id3/ti10:15/da12-05-26/pi2/BA015/BA016") == (
        sia("BA", "015", partition="1", user="3", time="10:15", date="2026-12-05", peripheral="2"),
        sia("BA", "016", partition="1", user="3", time="10:15", date="2026-12-05", peripheral="2"),
    )


def test_a_repeated_modifier_replaces_the_earlier_one_for_later_events_only() -> None:
    assert decode_sia("Nti10:15/pi1/BA015/ti10:16:30/pi2/BA016/da01-02-27/OP003") == (
        sia("BA", "015", time="10:15", peripheral="1"),
        sia("BA", "016", time="10:16:30", peripheral="2"),
        sia("OP", "003", time="10:16:30", date="2027-01-02", peripheral="2"),
    )


def test_an_unreadable_value_clears_the_modifier_rather_than_keeping_the_old_one() -> None:
    assert decode_sia("Nti10:15/da12-05-26/BA1/ti25:61/da02-30-26/BA2") == (
        sia("BA", "1", time="10:15", date="2026-12-05"),
        sia("BA", "2"),
    )


def test_a_modifier_after_the_last_event_applies_to_nothing() -> None:
    # Honeywell's SMS variant puts the time after the event; in a DC-09 block it names no event.
    assert decode_sia("NBA1023/ti10:35") == (sia("BA", "1023"),)


def test_modifiers_without_separators() -> None:
    assert decode_sia("Nti08:40ri2id7pi3CL001") == (
        sia("CL", "001", partition="2", user="7", time="08:40", peripheral="3"),
    )


def test_several_events_in_a_block() -> None:
    assert decode_sia("Nti19:44/id1/ri4/RP/ri5/BA003BA004/id2/CL") == (
        sia("RP", None, partition="4", user="1", time="19:44"),
        sia("BA", "003", partition="5", user="1", time="19:44"),
        sia("BA", "004", partition="5", user="1", time="19:44"),
        sia("CL", None, partition="5", user="2", time="19:44"),
    )


def test_modifiers_carry_across_bar_separated_blocks() -> None:
    # Eaton i-on "Extended SIA3 V2" puts every item in a block of its own.
    assert decode_sia("Nti10:15|ri4|FA2|AFire Zone 2") == (
        sia("FA", "2", partition="4", time="10:15", text="Fire Zone 2"),
    )


# ---- text blocks ----


def test_text_block_names_the_events_before_it_and_keeps_their_modifiers() -> None:
    assert decode_sia("Nti10:15/ri4/FA2/FA3|AFire hall|NBA017") == (
        sia("FA", "2", partition="4", time="10:15", text="Fire hall"),
        sia("FA", "3", partition="4", time="10:15", text="Fire hall"),
        sia("BA", "017", partition="4", time="10:15"),
    )


def test_caret_text_after_an_event_with_modifiers() -> None:
    assert decode_sia("Nri1ti22:40:48pi5CL0^VX FRONTE ^") == (
        sia("CL", "0", partition="1", time="22:40:48", peripheral="5", text="VX FRONTE"),
    )


def test_unknown_modifiers_are_still_skipped() -> None:
    assert decode_sia("Npm03/lm1/ti12:30/CL001") == (sia("CL", "001", time="12:30"),)


# ---- the data block's account without '#' ----


@pytest.mark.parametrize(
    ("data", "account", "expected"),
    [
        ("1234|1130 01 015", "1234", ("1234", "1130 01 015")),
        ("abcd|Nri1/BA01", "ABCD", ("abcd", "Nri1/BA01")),  # case aside; the block's account as sent
        ("ABCD|Nri1/BA01", "abcd", ("ABCD", "Nri1/BA01")),
        ("1234|", "1234", ("1234", "")),
        # Anything else before the '|' is data, as without the header's account.
        ("BA01|A text", "1234", (None, "BA01|A text")),
        ("5678|1130 01 015", "1234", (None, "5678|1130 01 015")),
        ("12345|1130 01 015", "1234", (None, "12345|1130 01 015")),
        ("123|1130 01 015", "1234", (None, "123|1130 01 015")),
        ("1234 01 015", "1234", (None, "1234 01 015")),  # no '|': never an account
        ("Nri1/BA01|A1234", "1234", (None, "Nri1/BA01|A1234")),
        # The '#' and bare '|' forms are unchanged, whatever the header says.
        ("#5678|1130 01 015", "1234", ("5678", "1130 01 015")),
        ("|Nri1/CL501", "1234", (None, "Nri1/CL501")),
    ],
)
def test_split_account_without_hash(data: str, account: str, expected: tuple[str | None, str]) -> None:
    assert split_account(data, account) == expected


@pytest.mark.parametrize("data", ["1234|1130 01 015", "BA01|A text", "#1234|NBA1", "|NBA1", "NBA1", ""])
def test_split_account_without_the_header_account_is_as_before(data: str) -> None:
    expected = split_account(data)
    assert split_account(data, None) == expected
    if not data.startswith(("#", "|")):
        assert expected == (None, data)


def test_missing_hash_with_the_header_account_decodes_contact_id() -> None:
    account, rest = split_account("1234|1130 01 015", "1234")
    assert account == "1234"
    assert decode_cid(rest) == Event("ADM-CID", "130", "event", "015", "01")


def test_sia_block_that_is_not_an_account_stays_an_event() -> None:
    account, rest = split_account("BA01|A text", "1234")
    assert account is None
    assert decode_sia(rest) == (sia("BA", "01", text="text"),)


def test_sia_without_hash_keeps_the_modifiers() -> None:
    account, rest = split_account("1234|Nti10:15/ri2/BA01", "1234")
    assert account == "1234"
    assert decode_sia(rest) == (sia("BA", "01", partition="2", time="10:15"),)


def decoded(message_type: str, account: str, data: str) -> Message:
    env = parse_envelope(encode_frame(message_type, 7, account, data, timestamp=NOW))
    assert isinstance(env, Envelope), env
    message = open_message(env, None, NOW, enforce_window=True)
    assert isinstance(message, Message), message
    return message


# Through the codec: these need decode.open_message to pass the header's account to split_account
# (``split_account(data, env.account)``); until it does they fail, which the strict xfail records.
@pytest.mark.parametrize(
    ("message_type", "account", "data", "events"),
    [
        ("ADM-CID", "1234", "1234|1130 01 015", (Event("ADM-CID", "130", "event", "015", "01"),)),
        ("ADM-CID", "ABCD", "abcd|3401 02 007", (Event("ADM-CID", "401", "restore", "007", "02"),)),
        ("SIA-DCS", "abcd", "ABCD|Nti10:15:30/ri2/BA01", (sia("BA", "01", partition="2", time="10:15:30"),)),
    ],
)
def test_frames_without_hash_before_the_header_account(
    message_type: str, account: str, data: str, events: tuple[Event, ...]
) -> None:
    message = decoded(message_type, account, data)
    assert message.data_account == data.split("|", maxsplit=1)[0]
    assert message.events == events


def test_frame_whose_sia_block_is_not_the_account_keeps_it_as_data() -> None:
    message = decoded("SIA-DCS", "1234", "BA01|A text")
    assert message.data_account is None
    assert message.events == (sia("BA", "01", text="text"),)


def test_frame_with_modifiers_decodes_them() -> None:
    message = decoded("SIA-DCS", "1234", "#1234|Nda12-05-26/ti11:59:58/pi4/ri1/BA015/BA016")
    expected = {"time": "11:59:58", "date": "2026-12-05", "peripheral": "4", "partition": "1"}
    assert message.events == (sia("BA", "015", **expected), sia("BA", "016", **expected))


# An account is hex, so it can spell a SIA code and zone; such a token without '#' is read as the event it spells
# (as DC-09 writes the block), even from the panel of that account: never "AK" for "FA1|AKitchen".
@pytest.mark.parametrize(
    ("account", "data", "events"),
    [
        ("FA1", "FA1|AKitchen", (sia("FA", "1", text="Kitchen"),)),
        ("BA01", "BA01|A Hall", (sia("BA", "01", text="Hall"),)),
        ("1234", "FA1|AKitchen", (sia("FA", "1", text="Kitchen"),)),
    ],
)
def test_a_token_that_spells_a_sia_event_is_the_event_not_the_account(
    account: str, data: str, events: tuple[Event, ...]
) -> None:
    assert split_account(data, account) == (None, data)
    assert decoded("SIA-DCS", account, data).events == events


# ... but only before a text block: followed by anything else the token is the panel's account, as the tolerance
# means (an extra FA 12 or a refused Contact ID otherwise).
@pytest.mark.parametrize(
    ("message_type", "account", "data", "events"),
    [
        ("SIA-DCS", "FA12", "FA12|Nri1/BA01", (sia("BA", "01", partition="1"),)),
        ("ADM-CID", "BA01", "BA01|1130 01 001", (Event("ADM-CID", "130", "event", "001", "01"),)),
    ],
)
def test_an_account_that_spells_a_sia_event_is_still_the_account_before_other_data(
    message_type: str, account: str, data: str, events: tuple[Event, ...]
) -> None:
    assert split_account(data, account)[0] == account
    assert decoded(message_type, account, data).events == events

"""Tests for the codec's value types."""

from receiver.dc09 import Event, RejectReason


def test_every_frame_rejection_is_answered_and_garbage_is_not() -> None:
    answers = {reason: reason.answer for reason in RejectReason}
    assert answers.pop(RejectReason.GARBAGE) is None
    assert answers.pop(RejectReason.UNSUPPORTED) == "duh"
    assert answers.pop(RejectReason.BAD_DATA) == "duh"
    assert set(answers.values()) == {"nak"}


def test_reasons_are_plain_strings_for_storage_and_metrics() -> None:
    assert str(RejectReason.CRC) == "crc"
    assert f"{RejectReason.TOO_LONG}" == "too_long"
    assert RejectReason("no_key") is RejectReason.NO_KEY


def test_zone_and_user_follow_the_catalogue() -> None:
    opening = Event(format="ADM-CID", code="401", qualifier="event", zone_or_user="007", partition="01")
    assert opening.zone_and_user(address_is_user=True) == (None, "007")
    assert opening.zone_and_user(address_is_user=False) == ("007", None)
    sia = Event(format="SIA-DCS", code="BA", qualifier="event", zone_or_user="15", partition="1", user="3")
    assert sia.zone_and_user(address_is_user=False) == ("15", "3")
    closing = Event(format="SIA-DCS", code="CL", qualifier="event", zone_or_user=None, partition="1", user="3")
    assert closing.zone_and_user(address_is_user=True) == (None, "3")

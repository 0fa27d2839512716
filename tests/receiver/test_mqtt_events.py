"""The JSON event of SPEC §3 as a Message, and every way a payload can fail to be one (pure, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from receiver.dc09 import Message, RejectReason
from receiver.mqtt_events import MAX_EVENT_BYTES, EventRejection, decode_event, event_answer


def payload(**fields: object) -> bytes:
    document: dict[str, object] = {
        "account": "1234",
        "format": "ADM-CID",
        "code": "E130",
        "zone": "15",
        "partition": "1",
        "seq": 17,
        "time": "2026-11-21T10:00:00Z",
    }
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


def test_the_spec_example_becomes_a_contact_id_message_with_a_synthetic_envelope() -> None:
    raw = payload()
    message = decode_event(raw, "1234")
    assert isinstance(message, Message)
    envelope = message.envelope
    assert (envelope.account, envelope.sequence, envelope.receiver, envelope.line) == ("1234", "0017", "", "")
    assert envelope.raw == raw and envelope.message_type == "ADM-CID" and not envelope.encrypted
    assert message.panel_time == datetime(2026, 11, 21, 10, tzinfo=UTC)
    [event] = message.events
    assert (event.format, event.code, event.qualifier, event.zone_or_user, event.partition) == (
        "ADM-CID",
        "130",
        "event",
        "015",
        "01",
    )


@pytest.mark.parametrize(("code", "qualifier"), [("E130", "event"), ("R130", "restore"), ("P130", "status")])
def test_the_contact_id_letter_is_the_qualifier(code: str, qualifier: str) -> None:
    message = decode_event(payload(code=code), "1234")
    assert isinstance(message, Message) and message.events[0].qualifier == qualifier


def test_sia_events_numbers_as_json_numbers_and_offsets_in_the_time() -> None:
    message = decode_event(
        payload(format="SIA-DCS", code="BA", zone=3, partition=..., seq="9", time="2026-11-21T11:00:00+01:00"),
        "1234",
    )
    assert isinstance(message, Message)
    assert (message.events[0].code, message.events[0].zone_or_user, message.events[0].partition) == ("BA", "3", None)
    assert message.envelope.sequence == "0009"
    assert message.panel_time == datetime(2026, 11, 21, 10, tzinfo=UTC)


def test_the_topic_account_matches_whatever_the_case() -> None:
    assert isinstance(decode_event(payload(account="abc1"), "ABC1"), Message)


@pytest.mark.parametrize(
    ("raw", "reason", "seq"),
    [
        (b"not json", RejectReason.MALFORMED, None),
        (b"\xff\xfe", RejectReason.MALFORMED, None),
        (b"[1, 2]", RejectReason.MALFORMED, None),
        (payload(seq=...), RejectReason.MALFORMED, None),
        (payload(seq=10000), RejectReason.MALFORMED, None),
        (payload(seq=True), RejectReason.MALFORMED, None),
        (payload(account="5678"), RejectReason.MALFORMED, 17),
        (payload(account=1234), RejectReason.MALFORMED, 17),
        (payload(account="12/4"), RejectReason.MALFORMED, 17),
        (payload(time="2026-11-21T10:00:00"), RejectReason.TIMESTAMP, 17),
        (payload(time="yesterday"), RejectReason.TIMESTAMP, 17),
        (payload(time=...), RejectReason.TIMESTAMP, 17),
        (payload(format="XYZ"), RejectReason.UNSUPPORTED, 17),
        (payload(code="E999"), RejectReason.BAD_DATA, 17),
        (payload(code="X130"), RejectReason.BAD_DATA, 17),
        (payload(code=130), RejectReason.BAD_DATA, 17),
        (payload(format="SIA-DCS", code="QQ"), RejectReason.BAD_DATA, 17),
        (payload(zone="1234"), RejectReason.BAD_DATA, 17),
        (payload(zone="front door"), RejectReason.MALFORMED, 17),
        (payload(partition=-1), RejectReason.MALFORMED, 17),
        (payload(format="SIA-DCS", code="BA", zone="1" * 17), RejectReason.MALFORMED, 17),
        (payload(format="SIA-DCS", code="BA", zone=10**16), RejectReason.MALFORMED, 17),  # as long, as a number
        (payload(format="SIA-DCS", code="BA", user=int("9" * 3000)), RejectReason.MALFORMED, 17),
        (b"{" + b" " * MAX_EVENT_BYTES + b"}", RejectReason.TOO_LONG, None),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason_and_the_seq_when_known(
    raw: bytes, reason: RejectReason, seq: int | None
) -> None:
    result = decode_event(raw, "1234")
    assert isinstance(result, EventRejection)
    assert (result.rejection.reason, result.seq) == (reason, seq)
    assert result.rejection.detail and result.rejection.raw == raw


def test_answers() -> None:
    assert event_answer(17) == b'{"seq":17,"status":"ack"}'
    refused = decode_event(payload(code="E999"), "1234")
    assert isinstance(refused, EventRejection)
    answer = json.loads(event_answer(refused.seq, refused.rejection))
    assert answer == {"seq": 17, "status": "nak", "reason": "bad_data: unknown Contact ID event code 999"}

"""Tests for the receiver's ACK, NAK and DUH, byte for byte."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from receiver.dc09 import Answer, Envelope, Rejection, ack, duh, nak, parse_answer, parse_envelope

KEY = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCD")


def envelope(raw: bytes) -> Envelope:
    result = parse_envelope(raw)
    assert isinstance(result, Envelope), result
    return result


PYRONIX_NULL = envelope(b'\nEA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026\r')
WITH_RECEIVER = envelope(
    b'\n9B6D0059"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][E115000]_14:25:17,06-22-2015\r'
)
ENCRYPTED = Envelope(
    raw=b"",
    message_type="SIA-DCS",
    encrypted=True,
    sequence="0001",
    receiver="5678",
    line="1234",
    account="080027E62A64",
    body=b"",
)


# Expected CRCs below were computed with a bit-by-bit CRC-16/ARC, independently of the codec.


def test_plain_ack_as_niftydc09_answers_a_pyronix_null() -> None:
    # home-assistant/core #180511: the answer the Pyronix Enforcer accepts.
    assert ack(PYRONIX_NULL, None, datetime(2026, 8, 27, 20, 38, 8, tzinfo=UTC)) == b'\n59890012"ACK"0000L0#1409[]\r'


def test_plain_ack_echoes_receiver_and_line() -> None:
    assert ack(WITH_RECEIVER, None, datetime(2015, 6, 22, tzinfo=UTC)) == (
        b'\n77B70023"ACK"0000RC0FFDL1234#080027E62A64[]\r'
    )


def test_plain_ack_echoes_a_bare_line_prefix() -> None:
    env = envelope(b'\nBB86002C"NULL"0001L#7303658550[]_15:39:38,06-07-2019\r')
    assert ack(env, None, datetime(2019, 6, 7, tzinfo=UTC)) == b'\nC0E40017"ACK"0001L#7303658550[]\r'


def test_encrypted_ack_published_vector() -> None:
    # Swissdotnet SIA-DC-09 library: "*ACK" with the pad bytes 12 F1 C2 2A 88 EB 44 56 79 DA.
    pad = bytes.fromhex("12F1C22A88EB445679DA")
    assert ack(ENCRYPTED, KEY, datetime(2015, 4, 14, 16, 8, 12, tzinfo=UTC), pad=pad) == (
        b'\nE34C0062"*ACK"0001R5678L1234#080027E62A64[14F088FF5DCB19D1908069507EAB97C7CDB20F1C6EFA550BB59864D54B2DFA1C\r'
    )


def test_encrypted_ack_second_published_vector() -> None:
    env = Envelope(
        raw=b"",
        message_type="NULL",
        encrypted=True,
        sequence="0000",
        receiver="C0FFD",
        line="1234",
        account="00900B376AB6",
        body=b"",
    )
    key = bytes.fromhex("28376EF26E782E1A4A160E3276E5FB93")
    pad = bytes.fromhex("730B1D81A5453A526F57")
    assert ack(env, key, datetime(2015, 4, 27, 8, 6, 26, tzinfo=UTC), pad=pad) == (
        b'\n02B70063"*ACK"0000RC0FFDL1234#00900B376AB6[5F1BEAF37775DEC5F901894BDD25D9565C122B2BBAAD72E84E23B8F75554EF8C\r'
    )


def test_encrypted_ack_with_random_pad_decrypts_to_the_receiver_time() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    first, second = ack(ENCRYPTED, KEY, now), ack(ENCRYPTED, KEY, now)
    assert first != second  # the pad varies from one answer to the next
    for frame in (first, second):
        answer = parse_answer(frame, KEY)
        assert isinstance(answer, Answer)
        assert (answer.kind, answer.encrypted, answer.sequence, answer.timestamp) == ("ack", True, "0001", now)


def test_encrypted_ack_needs_the_key() -> None:
    with pytest.raises(ValueError, match="key"):
        ack(ENCRYPTED, None, datetime(2024, 5, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Swissdotnet SIA-DC-09 library.
        (datetime(2015, 4, 14, 16, 9, 9, tzinfo=UTC), b'\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r'),
        # Visonic PowerLink receiver capture.
        (datetime(2024, 7, 30, 10, 10, 18, tzinfo=UTC), b'\nE5630025"NAK"0000R0L0A0[]_10:10:18,07-30-2024\r'),
        # ioBroker.sia's answer (#11).
        (datetime(2019, 5, 7, 15, 39, 35, tzinfo=UTC), b'\n3C3B0025"NAK"0000R0L0A0[]_15:39:35,05-07-2019\r'),
    ],
)
def test_nak_carries_the_receiver_gmt_time(now: datetime, expected: bytes) -> None:
    assert nak(now) == expected


def test_nak_converts_local_and_naive_times_to_gmt() -> None:
    expected = b'\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r'
    cest = timezone(timedelta(hours=2))
    assert nak(datetime(2015, 4, 14, 18, 9, 9, tzinfo=cest)) == expected
    assert nak(datetime(2015, 4, 14, 16, 9, 9)) == expected
    assert nak(datetime(2015, 4, 14, 16, 9, 9, 999_999, tzinfo=UTC)) == expected


def test_duh_echoes_the_message_fields() -> None:
    assert duh(PYRONIX_NULL) == b'\n67570012"DUH"0000L0#1409[]\r'
    assert duh(WITH_RECEIVER) == b'\n9D1E0023"DUH"0000RC0FFDL1234#080027E62A64[]\r'


def test_duh_to_an_encrypted_message_is_plain() -> None:
    assert duh(ENCRYPTED) == b'\nA0C70022"DUH"0001R5678L1234#080027E62A64[]\r'


def test_answers_mirror_a_binary_crc() -> None:
    from receiver.dc09 import encode_frame

    env = envelope(encode_frame("NULL", 7, "AFFE", "", line="0", crc_binary=True))
    answer = ack(env, None, datetime(2024, 5, 1, tzinfo=UTC))
    assert answer[3:8] == b'0012"'
    assert answer == b"\n" + bytes.fromhex("28D0") + b'0012"ACK"0007L0#AFFE[]\r'
    assert duh(env)[3:8] == b'0012"'
    assert nak(datetime(2015, 4, 14, 16, 9, 9, tzinfo=UTC), crc_binary=True) == (
        b"\n" + bytes.fromhex("3C83") + b'0025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r'
    )


def test_every_answer_reads_back_on_the_panel_side() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    for frame, kind in ((ack(WITH_RECEIVER, None, now), "ack"), (nak(now), "nak"), (duh(WITH_RECEIVER), "duh")):
        answer = parse_answer(frame, None)
        assert not isinstance(answer, Rejection)
        assert answer.kind == kind

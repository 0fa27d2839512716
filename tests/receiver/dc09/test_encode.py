"""Tests for the panel side: building frames and reading the receiver's answers."""

from datetime import UTC, datetime, timedelta

import pytest

from receiver.dc09 import (
    Answer,
    Message,
    Rejection,
    RejectReason,
    ack,
    cid_data,
    encode_frame,
    nak,
    open_message,
    parse_answer,
    parse_envelope,
    sia_data,
)

KEY = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCD")
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_plain_frame_matches_a_captured_pyronix_null() -> None:
    frame = encode_frame("NULL", 0, "1409", "", line="0", timestamp=datetime(2026, 8, 27, 20, 38, 7, tzinfo=UTC))
    assert frame == b'\nEA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026\r'


def test_plain_frame_with_receiver_and_extended_data_matches_published_vector() -> None:
    frame = encode_frame(
        "SIA-DCS",
        0,
        "080027E62A64",
        "#080027E62A64|NHB0003",
        receiver="C0FFD",
        line="1234",
        extended=("E115000",),
        timestamp=datetime(2015, 6, 22, 14, 25, 17, tzinfo=UTC),
    )
    assert frame == (
        b'\n9B6D0059"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][E115000]_14:25:17,06-22-2015\r'
    )


def test_utf8_extended_data_length_counts_bytes() -> None:
    frame = encode_frame(
        "SIA-DCS",
        0,
        "080027E62A64",
        "#080027E62A64|NHB0003",
        receiver="C0FFD",
        line="1234",
        extended=("ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ",),
        timestamp=datetime(2015, 6, 23, 9, 0, 13, tzinfo=UTC),
    )
    assert frame.startswith(b'\n52060082"SIA-DCS"')


def test_encrypted_frame_matches_published_vector() -> None:
    frame = encode_frame(
        "SIA-DCS",
        0,
        "080027E62A64",
        "#080027E62A64|NHB0003",
        receiver="C0FFD",
        line="1234",
        extended=("E115000",),
        timestamp=datetime(2015, 6, 22, 15, 12, 40, tzinfo=UTC),
        key=KEY,
        pad=bytes.fromhex("9A10D286C038468952F7AC09"),
    )
    assert frame == (
        b'\nE88800A7"*SIA-DCS"0000RC0FFDL1234#080027E62A64[A054F111518361720BAB126501C6D994CD9151D2C84881C0'
        b"FEA933A0790F49A9236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882\r"
    )


def test_encrypted_null_matches_published_vector() -> None:
    frame = encode_frame(
        "NULL",
        0,
        "080027E62A64",
        "",
        receiver="C0FFD",
        line="1234",
        timestamp=datetime(2015, 6, 22, 13, 43, 9, tzinfo=UTC),
        key=KEY,
        pad=bytes.fromhex("4CF8588F492EEA78CFAE"),
    )
    assert frame == (
        b'\nCAC10064"*NULL"0000RC0FFDL1234#080027E62A64[70D7DC480FA7DC0DE428CE02447BA2E2981A161EA14CB780D2CD9172'
        b"08059E11\r"
    )


# Keys of each size, as hex digits and as the typed characters panels such as Ajax take.
KEYS = [
    bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
    b"Ajax-Hub-Key-16!",
    bytes.fromhex("8E73B0F7DA0E6452C810F32B809079E562F8EAD2522C6B7B"),
    b"twenty-four-characters!!",
    bytes.fromhex("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4"),
    b"thirty-two characters of text!!!",
]


@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"{len(key) * 8}-bit {key[:4]!r}")
@pytest.mark.parametrize(
    ("kind", "data", "codes"),
    [
        ("ADM-CID", cid_data("1234", 1, 130, 1, 15), ["130"]),
        ("SIA-DCS", sia_data("1234", "BA", 15, partition=1, user=3), ["BA"]),
        ("NULL", "", []),
    ],
)
def test_encryption_round_trip(key: bytes, kind: str, data: str, codes: list[str]) -> None:
    frame = encode_frame(kind, 42, "1234", data, receiver="12", line="3", extended=("X1",), timestamp=NOW, key=key)
    assert frame[10:12] == b"*" + kind[:1].encode()
    env = parse_envelope(frame)
    assert not isinstance(env, Rejection)
    assert env.encrypted
    message = open_message(env, key, NOW + timedelta(seconds=5), enforce_window=True)
    assert isinstance(message, Message), message
    assert [event.code for event in message.events] == codes
    assert message.data == data
    assert message.extended == ("X1",)
    answer = parse_answer(ack(env, key, NOW), key)
    assert isinstance(answer, Answer)
    assert (answer.kind, answer.sequence, answer.receiver, answer.line, answer.account) == (
        "ack",
        "0042",
        "12",
        "3",
        "1234",
    )


def test_pad_is_one_to_sixteen_bytes() -> None:
    from receiver.dc09.wire import decrypt_region

    for length in range(40):
        frame = encode_frame("SIA-DCS", 1, "1234", "N" + "B" * length, timestamp=NOW, key=KEY)
        region = frame[frame.index(b"[") + 1 : -1]
        plaintext = decrypt_region(KEY, region)
        assert plaintext is not None
        assert 1 <= plaintext.index(b"|") <= 16


def test_cid_data() -> None:
    assert cid_data("1234", 1, 130, 1, 15) == "#1234|1130 01 015"
    assert cid_data(None, "restore", "401", "02", "007") == "3401 02 007"
    assert cid_data("1234", "status", 570, 0, 1) == "#1234|6570 00 001"


def test_sia_data() -> None:
    assert sia_data("1234", "BA", 15, partition=1, user=3) == "#1234|Nri1/id3/BA015"
    assert sia_data(None, "RP") == "NRP"
    assert sia_data("AFFE", "CL", "0001", partition=1, text="user") == "#AFFE|Nri1/CL0001^user^"


def test_sequence_formats() -> None:
    assert b'"NULL"0042L' in encode_frame("NULL", 42, "1234", "")
    assert b'"NULL"0001L' in encode_frame("NULL", 10001, "1234", "")
    assert b'"NULL"0815L' in encode_frame("NULL", "0815", "1234", "")
    with pytest.raises(ValueError, match="sequence"):
        encode_frame("NULL", "12", "1234", "")


def test_encrypted_frame_needs_a_timestamp_and_a_proper_key() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        encode_frame("NULL", 1, "1234", "", key=KEY)
    with pytest.raises(ValueError, match="16, 24 or 32"):
        encode_frame("NULL", 1, "1234", "", key=b"short", timestamp=NOW)
    with pytest.raises(ValueError, match="pad"):
        encode_frame("NULL", 1, "1234", "", key=KEY, timestamp=NOW, pad=b"|" * 16)
    with pytest.raises(ValueError, match="pad"):
        encode_frame("NULL", 1, "1234", "", key=KEY, timestamp=NOW, pad=b"ab")


def test_parse_answer_kinds() -> None:
    nak_answer = parse_answer(nak(NOW), None)
    assert isinstance(nak_answer, Answer)
    assert (nak_answer.kind, nak_answer.account, nak_answer.timestamp) == ("nak", None, NOW)
    duh_answer = parse_answer(b'\n67570012"DUH"0000L0#1409[]\r', None)
    assert isinstance(duh_answer, Answer)
    assert (duh_answer.kind, duh_answer.account, duh_answer.timestamp) == ("duh", "1409", None)


def test_parse_answer_published_encrypted_ack() -> None:
    frame = (
        b'\nE34C0062"*ACK"0001R5678L1234#080027E62A64'
        b"[14F088FF5DCB19D1908069507EAB97C7CDB20F1C6EFA550BB59864D54B2DFA1C\r"
    )
    answer = parse_answer(frame, KEY)
    assert isinstance(answer, Answer)
    assert answer.timestamp == datetime(2015, 4, 14, 16, 8, 12, tzinfo=UTC)
    wrong = parse_answer(frame, bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCE"))
    assert isinstance(wrong, Rejection)
    assert wrong.reason is RejectReason.DECRYPT
    no_key = parse_answer(frame, None)
    assert isinstance(no_key, Rejection)
    assert no_key.reason is RejectReason.NO_KEY


def test_parse_answer_rejects_messages_and_broken_frames() -> None:
    message = parse_answer(encode_frame("NULL", 1, "1234", ""), None)
    assert isinstance(message, Rejection)
    assert message.reason is RejectReason.UNSUPPORTED
    broken = parse_answer(b'\n0000000F"ACK"0000L0#1409[]\r', None)
    assert isinstance(broken, Rejection)
    assert broken.reason is RejectReason.LENGTH

"""Tests for decoding DC-09 frames: envelopes, decryption, the timestamp window and field quirks."""

from datetime import UTC, datetime, timedelta

import pytest

from receiver.dc09 import (
    SUPPORTED_TYPES,
    Envelope,
    Event,
    Message,
    Rejection,
    RejectReason,
    encode_frame,
    is_supported,
    open_message,
    parse_envelope,
    uses_binary_crc,
)

# Key of the published SIA DC-09 test vectors (Swissdotnet SIA-DC-09 library, SIADC09Debugger).
KEY = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCD")
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def frame(text: str) -> bytes:
    return b"\n" + text.encode("utf-8") + b"\r"


def envelope_of(raw: bytes) -> Envelope:
    result = parse_envelope(raw)
    assert isinstance(result, Envelope), result
    return result


def message_of(raw: bytes, key: bytes | None = None, now: datetime = NOW, enforce: bool = False) -> Message:
    result = open_message(envelope_of(raw), key, now, enforce_window=enforce)
    assert isinstance(result, Message), result
    return result


def rejection_of(result: object) -> RejectReason:
    assert isinstance(result, Rejection), result
    return result.reason


# (frame, type, encrypted, sequence, receiver, line, account): captured or published frames.
ENVELOPES = [
    # Swissdotnet SIA-DC-09 tests: lower-case length, receiver and line numbers, x-data.
    (
        '7C37006b"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][X115000][X115000][X115000]'
        "_13:53:11,06-22-2015",
        "SIA-DCS", False, "0000", "C0FFD", "1234", "080027E62A64",
    ),
    # The same library: lower-case CRC and receiver, no timestamp.
    ('525a0024"NULL"0000Rc0ffdL1234#080027E62A64[]', "NULL", False, "0000", "c0ffd", "1234", "080027E62A64"),
    # Pyronix Enforcer (home-assistant/core #180511).
    ('EA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026', "NULL", False, "0000", None, "0", "1409"),
    # Hikvision AX hub (eavanvalkenburg/sia #17), NULL with a dummy Contact ID block.
    ('821F003A"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020', "NULL", False, "0000", "0", "0", "AAAB"),
    # A Chinese panel sending a bare "L" (ioBroker.sia #11, #19).
    ('BB86002C"NULL"0001L#7303658550[]_15:39:38,06-07-2019', "NULL", False, "0001", None, "", "7303658550"),
    (
        '78FC003B"SIA-DCS"0001L#22334455[#22334455|NCQ1]_14:33:53,02-09-2020',
        "SIA-DCS", False, "0001", None, "", "22334455",
    ),
    # Dahua (pysiaalarm #54), a hex account.
    (
        'DABA003F"ADM-CID"0062L0#B12345[#B12345|1602 00 000]_17:23:51,09-18-2023',
        "ADM-CID", False, "0062", None, "0", "B12345",
    ),
    # Encrypted: Swissdotnet vectors, upper- and lower-case ciphertext.
    (
        'E88800a7"*SIA-DCS"0000RC0FFDL1234#080027E62A64[A054F111518361720BAB126501C6D994CD9151D2C84881C0'
        "FEA933A0790F49A9236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882",
        "SIA-DCS", True, "0000", "C0FFD", "1234", "080027E62A64",
    ),
    # A message type this receiver does not handle still gives an envelope (answered DUH).
    (
        'E566004e"RSP"0045RC0FFDL1234#080027E62A64[#080027E62A64|NZZOR0003]_15:15:25,06-22-2015',
        "RSP", False, "0045", "C0FFD", "1234", "080027E62A64",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "encrypted", "sequence", "receiver", "line", "account"), ENVELOPES)
def test_envelope_fields_of_real_frames(
    text: str, kind: str, encrypted: bool, sequence: str, receiver: str | None, line: str, account: str
) -> None:
    raw = frame(text)
    env = envelope_of(raw)
    assert (env.message_type, env.encrypted, env.sequence, env.receiver, env.line, env.account) == (
        kind,
        encrypted,
        sequence,
        receiver,
        line,
        account,
    )
    assert env.raw == raw
    assert not env.crc_binary


def test_envelope_without_lf_and_cr_as_udp_or_mqtt_payloads_come() -> None:
    env = envelope_of(b'EA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026')
    assert env.account == "1409"
    assert envelope_of(frame('EA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026') + b"\x00").account == "1409"


# The first published frame with its CRC field zeroed (SIADC09Debugger's CRC test).
BAD_CRC = frame(
    '0000006b"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][X115000][X115000][X115000]'
    "_13:53:11,06-22-2015"
)


def test_bad_crc() -> None:
    result = parse_envelope(BAD_CRC)
    assert rejection_of(result) is RejectReason.CRC


def test_bad_length() -> None:
    assert rejection_of(parse_envelope(frame('B0AC0099"ADM-CID"0001L0#7099[#7099|1628 01 000]'))) is RejectReason.LENGTH


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        b"\r",
        b"\nhello world\r",
        frame('01fc003g"ACK"0000Rc0ffdL1234#080027E62A64[]_12:10:40,06-22-2015'),  # non-hex length
        frame('5989"ACK"0000L0#1409[]'),  # no length field
    ],
)
def test_malformed_headers(raw: bytes) -> None:
    assert rejection_of(parse_envelope(raw)) is RejectReason.MALFORMED


def test_missing_account_is_malformed() -> None:
    raw = encode_frame("SIA-DCS", 1, "1234", "NBA1", line="0").replace(b"#1234", b"")
    body = raw[9:-1]
    from receiver.dc09.wire import wrap

    assert rejection_of(parse_envelope(wrap(body))) is RejectReason.MALFORMED


def test_encrypted_region_must_be_whole_hex_blocks() -> None:
    from receiver.dc09.wire import wrap

    for region in (b"ABCD", b"Z" * 32, b"A" * 48):
        raw = wrap(b'"*NULL"0000L0#1234[' + region)
        assert rejection_of(parse_envelope(raw)) is RejectReason.MALFORMED


def test_plain_adm_cid() -> None:
    message = message_of(frame('A18D0027"ADM-CID"0001L0#7099[#7099|1131 01 003]'))
    assert message.events == (
        Event(format="ADM-CID", code="131", qualifier="event", zone_or_user="003", partition="01"),
    )
    assert message.data == "#7099|1131 01 003"
    assert message.data_account == "7099"
    assert message.panel_time is None
    assert message.extended == ()


def test_plain_sia_dcs_with_extended_data() -> None:
    message = message_of(
        frame(
            '7C37006b"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][X115000][X115000][X115000]'
            "_13:53:11,06-22-2015"
        )
    )
    assert message.events == (
        Event(format="SIA-DCS", code="HB", qualifier="event", zone_or_user="0003", partition=None),
    )
    assert message.extended == ("X115000", "X115000", "X115000")
    assert message.panel_time == datetime(2015, 6, 22, 13, 53, 11, tzinfo=UTC)


def test_sia_dcs_with_area_name_and_event_text() -> None:
    message = message_of(frame('953a004c"SIA-DCS"0001L0#7878[#7878|Nri01^TOTAL^/LX901^centrale d\'alarme JA-106K(R)^]'))
    assert message.events == (
        Event(
            format="SIA-DCS",
            code="LX",
            qualifier="event",
            zone_or_user="901",
            partition="01",
            text="centrale d'alarme JA-106K(R)",
        ),
    )


def test_utf8_in_extended_data_counts_bytes() -> None:
    raw = frame(
        '52060082"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ]'
        "_09:00:13,06-23-2015"
    )
    message = message_of(raw)
    assert message.extended == ("ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ",)


def test_windows_1252_extended_data_is_decoded() -> None:
    raw = encode_frame("SIA-DCS", 1, "1234", "#1234|NBA1", line="0")
    raw = raw.replace(b"]", b"][IK\xfcche]", 1)  # "Küche" in Windows-1252
    from receiver.dc09.wire import wrap

    message = message_of(wrap(raw[9:-1]))
    assert message.extended == ("IKüche",)


def test_encrypted_sia_dcs_published_vector() -> None:
    raw = frame(
        'E88800a7"*SIA-DCS"0000RC0FFDL1234#080027E62A64[A054F111518361720BAB126501C6D994CD9151D2C84881C0'
        "FEA933A0790F49A9236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882"
    )
    message = message_of(raw, KEY, now=datetime(2015, 6, 22, 15, 12, 45, tzinfo=UTC))
    assert message.data == "#080027E62A64|NHB0003"
    assert message.extended == ("E115000",)
    assert message.panel_time == datetime(2015, 6, 22, 15, 12, 40, tzinfo=UTC)
    assert [e.code for e in message.events] == ["HB"]


def test_encrypted_lower_case_ciphertext() -> None:
    raw = frame(
        'a60a00a7"*SIA-DCS"0000Rc0ffdL1234#080027E62A64[1636385bf3ee2cf761f578f5b57eea422ca7601e0823c89d'
        "6f19feadf690104690e105e61d3989316bcb26df482a42dc3b4b3b0e9c40da4d3642e7d72cc5ce95"
    )
    message = message_of(raw, KEY, now=datetime(2015, 6, 22, 15, 5, 2, tzinfo=UTC))
    assert message.data == "#080027E62A64|NHB0003"


def test_encrypted_null_with_sixteen_character_account() -> None:
    raw = frame(
        '6A1B0067"*NULL"0000RFEDCLBA98#0123456789ABCDEF[DB5596C05AEC0F9CA8A9647985418EE2A818ABFC6AC5444B9A15'
        "4F75E4FAABEC"
    )
    key = bytes.fromhex("1234567890ABCDEF1234567890ABCDEF")
    message = message_of(raw, key, now=datetime(2015, 6, 29, 14, 55, 44, tzinfo=UTC))
    assert message.events == ()
    assert message.envelope.account == "0123456789ABCDEF"
    assert message.envelope.line == "BA98"


def test_hikvision_encrypted_null_without_pad_terminator() -> None:
    # Captured from a Hikvision AX hub (eavanvalkenburg/sia #17), typed key "AAAAAAAAAAAAAAAA":
    # the plaintext is "ppppppppppp]_18:24:52,07-05-2020", its pad lacking the '|'.
    raw = frame('76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9')
    message = message_of(raw, b"AAAAAAAAAAAAAAAA", now=datetime(2020, 7, 5, 18, 25, 10, tzinfo=UTC))
    assert message.events == ()
    assert message.panel_time == datetime(2020, 7, 5, 18, 24, 52, tzinfo=UTC)


def test_hikvision_null_with_dummy_cid_block_is_a_link_test() -> None:
    message = message_of(frame('821F003A"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020'))
    assert message.events == ()
    assert message.data_account == "0000"


def test_pima_account_in_data_block_differs_from_header() -> None:
    raw = encode_frame("ADM-CID", 12, "1234", "#5678|1130 01 015", line="1", timestamp=NOW)
    message = message_of(raw)
    assert message.envelope.account == "1234"
    assert message.data_account == "5678"
    assert message.events[0].zone_or_user == "015"


def test_encrypted_without_key_is_no_key() -> None:
    raw = encode_frame("ADM-CID", 1, "1234", "#1234|1130 01 015", timestamp=NOW, key=KEY)
    assert rejection_of(open_message(envelope_of(raw), None, NOW, enforce_window=False)) is RejectReason.NO_KEY
    assert rejection_of(open_message(envelope_of(raw), b"short", NOW, enforce_window=False)) is RejectReason.NO_KEY


def test_encrypted_with_wrong_key_is_decrypt() -> None:
    raw = encode_frame("ADM-CID", 1, "1234", "#1234|1130 01 015", timestamp=NOW, key=KEY)
    wrong = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCE")
    assert rejection_of(open_message(envelope_of(raw), wrong, NOW, enforce_window=False)) is RejectReason.DECRYPT


def test_plain_message_for_an_account_with_a_key_is_refused() -> None:
    raw = encode_frame("ADM-CID", 1, "1234", "#1234|1130 01 015", timestamp=NOW)
    result = open_message(envelope_of(raw), KEY, NOW, enforce_window=False)
    assert rejection_of(result) is RejectReason.UNENCRYPTED


def test_unsupported_type() -> None:
    env = envelope_of(frame(ENVELOPES[-1][0]))
    assert not is_supported(env)
    assert rejection_of(open_message(env, None, NOW, enforce_window=False)) is RejectReason.UNSUPPORTED
    assert {"ADM-CID", "SIA-DCS", "NULL"} == SUPPORTED_TYPES
    assert is_supported(envelope_of(frame(ENVELOPES[0][0])))


def test_cid_data_that_is_not_contact_id_is_bad_data() -> None:
    raw = encode_frame("ADM-CID", 1, "1234", "#1234|9130 01 015", timestamp=NOW)
    assert rejection_of(open_message(envelope_of(raw), None, NOW, enforce_window=False)) is RejectReason.BAD_DATA


def test_sia_data_without_an_event_code_is_bad_data() -> None:
    raw = encode_frame("SIA-DCS", 1, "1234", "#1234|Nri1", timestamp=NOW)
    assert rejection_of(open_message(envelope_of(raw), None, NOW, enforce_window=False)) is RejectReason.BAD_DATA


def test_plain_content_without_closing_bracket_is_malformed() -> None:
    from receiver.dc09.wire import wrap

    raw = wrap(b'"SIA-DCS"0001L0#1234[#1234|NBA1_12:00:00,05-01-2024')
    assert rejection_of(open_message(envelope_of(raw), None, NOW, enforce_window=False)) is RejectReason.MALFORMED


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-40, True), (-41, False), (20, True), (21, False), (0, True)],
)
def test_timestamp_window_edges(offset: int, accepted: bool) -> None:
    sent = NOW + timedelta(seconds=offset)
    encrypted = encode_frame("ADM-CID", 1, "1234", "#1234|1130 01 015", timestamp=sent, key=KEY)
    plain = encode_frame("ADM-CID", 1, "1234", "#1234|1130 01 015", timestamp=sent)
    for result in (
        open_message(envelope_of(encrypted), KEY, NOW, enforce_window=False),
        open_message(envelope_of(plain), None, NOW, enforce_window=True),
    ):
        if accepted:
            assert isinstance(result, Message)
        else:
            assert rejection_of(result) is RejectReason.TIMESTAMP


def test_window_is_measured_in_whole_seconds_of_now() -> None:
    plain = encode_frame("NULL", 1, "1234", "", timestamp=NOW - timedelta(seconds=40))
    result = open_message(envelope_of(plain), None, NOW + timedelta(microseconds=999_999), enforce_window=True)
    assert isinstance(result, Message)


def test_window_bounds_are_parameters() -> None:
    plain = encode_frame("NULL", 1, "1234", "", timestamp=NOW - timedelta(seconds=100))
    env = envelope_of(plain)
    assert isinstance(open_message(env, None, NOW, enforce_window=True, past=timedelta(seconds=100)), Message)
    result = open_message(env, None, NOW, enforce_window=True, past=timedelta(seconds=99))
    assert rejection_of(result) is RejectReason.TIMESTAMP


def test_naive_now_is_taken_as_utc() -> None:
    plain = encode_frame("NULL", 1, "1234", "", timestamp=NOW)
    assert isinstance(open_message(envelope_of(plain), None, NOW.replace(tzinfo=None), enforce_window=True), Message)


def test_local_time_panel_is_accepted_when_the_window_is_not_enforced() -> None:
    # TRIKDIS (pysiaalarm #52) reports local time: an hour ahead of GMT in this capture.
    raw = frame('EEA50029"NULL"0000R1L1#9413[]_16:56:18,09-07-2023')
    now = datetime(2023, 9, 7, 15, 56, 21, tzinfo=UTC)
    message = message_of(raw, now=now)
    assert message.panel_time == datetime(2023, 9, 7, 16, 56, 18, tzinfo=UTC)
    assert rejection_of(open_message(envelope_of(raw), None, now, enforce_window=True)) is RejectReason.TIMESTAMP


def test_clock_drift_of_minutes_is_accepted_when_not_enforced() -> None:
    raw = encode_frame("SIA-DCS", 3, "1234", "#1234|Nri1/BA015", timestamp=NOW - timedelta(minutes=7))
    assert message_of(raw).events[0].code == "BA"


def test_missing_timestamp_fails_only_when_enforced() -> None:
    raw = frame('EA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026')
    no_timestamp = encode_frame("NULL", 0, "1409", "")
    assert message_of(no_timestamp).panel_time is None
    assert (
        rejection_of(open_message(envelope_of(no_timestamp), None, NOW, enforce_window=True)) is RejectReason.TIMESTAMP
    )
    assert message_of(raw).panel_time == datetime(2026, 8, 27, 20, 38, 7, tzinfo=UTC)


def test_impossible_date_is_no_panel_time_or_a_timestamp_rejection() -> None:
    # A PHP test sender in ioBroker.sia #3 sent month 00.
    from receiver.dc09.wire import wrap

    raw = wrap(b'"SIA-DCS"0001L0#5504[#5504|Nri1HA1]_17:53:48,00-31-2019')
    assert message_of(raw).panel_time is None
    assert rejection_of(open_message(envelope_of(raw), None, NOW, enforce_window=True)) is RejectReason.TIMESTAMP


def test_binary_crc_envelope() -> None:
    raw = encode_frame("SIA-DCS", 49, "AFFE", "#AFFE|Nri1CL0001^user^", line="0", timestamp=NOW, crc_binary=True)
    env = envelope_of(raw)
    assert env.crc_binary
    message = message_of(raw)
    assert message.events == (
        Event(format="SIA-DCS", code="CL", qualifier="event", zone_or_user="0001", partition="1", text="user"),
    )


def test_lower_case_length_and_crc_as_lupus_sends_them() -> None:
    raw = encode_frame("SIA-DCS", 49, "AFFE", "#AFFE|Nri1CL0001^user^" + "x" * 9, line="0", timestamp=NOW)
    assert any(c in b"ABCDEF" for c in raw[1:9])
    lower = raw[:1] + raw[1:9].lower() + raw[9:]
    assert lower != raw
    assert envelope_of(lower).account == "AFFE"


def test_binary_crc_is_detected_on_rejected_frames_too() -> None:
    raw = encode_frame("NULL", 1, "1234", "", crc_binary=True)
    broken = raw[:-3] + b"X" + raw[-2:]
    assert rejection_of(parse_envelope(broken)) is RejectReason.CRC
    assert uses_binary_crc(broken)
    assert not uses_binary_crc(encode_frame("NULL", 1, "1234", ""))
    assert not uses_binary_crc(b"garbage")


def test_rejections_keep_the_raw_frame() -> None:
    raw = BAD_CRC
    result = parse_envelope(raw)
    assert isinstance(result, Rejection)
    assert result.raw == raw
    assert "CRC" in result.detail

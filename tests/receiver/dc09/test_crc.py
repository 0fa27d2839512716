"""Tests for the CRC-16/ARC used by every DC-09 frame."""

from hypothesis import given
from hypothesis import strategies as st

from receiver.dc09.crc import crc16_arc, crc16_arc_python


def bitwise_crc16_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D


def test_empty_input_is_zero() -> None:
    assert crc16_arc(b"") == 0


def test_real_frames_carry_their_crc() -> None:
    # CRC field and body of frames captured from panels and published receivers.
    frames = [
        (0x5989, b'"ACK"0000L0#1409[]'),  # NiftyDC09's answer to a Pyronix Enforcer
        (0xEA74, b'"NULL"0000L0#1409[]_20:38:07,08-27-2026'),  # Pyronix Enforcer
        (0x821F, b'"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020'),  # Hikvision
        (0xA6CC, b'"SIA-DCS"1662L0#0000[#0000|Nri0/RP0000]_12:40:52,12-22-2021'),
    ]
    for crc, body in frames:
        assert crc16_arc(body) == crc


@given(st.binary(max_size=300))
def test_table_matches_bitwise_definition(data: bytes) -> None:
    assert crc16_arc(data) == bitwise_crc16_arc(data)


@given(st.binary(max_size=300))
def test_the_pure_python_fallback_matches_too(data: bytes) -> None:
    assert crc16_arc_python(data) == bitwise_crc16_arc(data)


def test_the_compiled_crc_is_in_use() -> None:
    # fastcrc is a declared dependency; falling back to the pure-Python table would cost the receiver ~20x.
    assert crc16_arc is not crc16_arc_python

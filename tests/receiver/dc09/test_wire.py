"""Tests for DC-09 wire primitives: timestamps, frame wrapping, pad handling and text decoding."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from receiver.dc09.wire import format_timestamp, make_pad, strip_pad, text, utc, wrap


def test_format_timestamp_is_gmt() -> None:
    assert format_timestamp(datetime(2015, 4, 14, 16, 9, 9, tzinfo=UTC)) == b"_16:09:09,04-14-2015"
    assert format_timestamp(datetime(2015, 4, 15, 1, 9, 9, tzinfo=timezone(timedelta(hours=9)))) == (
        b"_16:09:09,04-14-2015"
    )


def test_utc_takes_naive_times_as_utc() -> None:
    assert utc(datetime(2024, 1, 1, 12)) == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_wrap_frames_a_body() -> None:
    assert wrap(b'"ACK"0000L0#1409[]') == b'\n59890012"ACK"0000L0#1409[]\r'
    assert wrap(b'"ACK"0000L0#1409[]', crc_binary=True) == b'\n\x59\x890012"ACK"0000L0#1409[]\r'
    with pytest.raises(ValueError, match="exceeds"):
        wrap(b"x" * 0x1000)


def test_random_pad_avoids_the_reserved_characters() -> None:
    for _ in range(200):
        pad = make_pad(16)
        assert len(pad) == 16
        assert not set(pad) & set(b"|[]")
        assert pad.isalnum()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"abc|#1234|NBA1", b"#1234|NBA1"),
        (b"|NBA1", b"NBA1"),
        (b"\x9a\x10\xd2\x86\xc08F\x89R\xf7\xac\t|#080027E62A64|NHB0003", b"#080027E62A64|NHB0003"),
        (b"0123456789abcdef|x", b"x"),
        (b"ppppppppppp", b""),  # Hikvision: pad without its terminator, no data
        (b"0123456789abcdefg|x", None),  # a 17-byte pad is not a pad
        (b"0123456789abcdefgh", None),
    ],
)
def test_strip_pad(data: bytes, expected: bytes | None) -> None:
    assert strip_pad(data) == expected


def test_text_decoding() -> None:
    assert text(b"plain") == "plain"
    assert text("Küche".encode()) == "Küche"
    assert text(b"K\xfcche") == "Küche"

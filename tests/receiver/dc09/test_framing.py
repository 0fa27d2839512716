"""Tests for cutting TCP streams and UDP datagrams into DC-09 frames."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.dc09 import (
    FrameSplitter,
    Rejection,
    RejectReason,
    encode_frame,
    open_message,
    parse_envelope,
    split_datagram,
)

# Ajax hubs send a burst of frames in one TCP segment (pysiaalarm PR #90, captured 2026-03-10).
AJAX_1 = b'\n12CE0026"NULL"0000L0#CCC[]_02:48:01,03-10-2026\r'
AJAX_2 = b'\nECFA0012"NULL"0000L0#CCC[]\r'
# Dahua panels too (pysiaalarm issue #54, 2023-09-18).
DAHUA_1 = b'\nDABA003F"ADM-CID"0062L0#B12345[#B12345|1602 00 000]_17:23:51,09-18-2023\r'
DAHUA_2 = b'\n2DE1004C"ADM-CID"0056L0#123456[#123456|1406 01 000][RLivingRoom]_17:22:02,09-18-2023\r'


def frames_of(items: list[bytes | Rejection]) -> list[bytes]:
    return [item for item in items if isinstance(item, bytes)]


def test_one_frame_is_returned_as_sent() -> None:
    assert FrameSplitter().feed(AJAX_1) == [AJAX_1]


def test_several_frames_in_one_segment_ajax() -> None:
    assert FrameSplitter().feed(AJAX_1 + AJAX_2) == [AJAX_1, AJAX_2]


def test_several_frames_in_one_segment_dahua() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(DAHUA_1 + DAHUA_2 + DAHUA_1) == [DAHUA_1, DAHUA_2, DAHUA_1]
    assert splitter.buffered == 0


def test_frame_split_across_many_reads() -> None:
    splitter = FrameSplitter()
    out: list[bytes | Rejection] = []
    for index in range(len(DAHUA_2)):
        out += splitter.feed(DAHUA_2[index : index + 1])
    assert out == [DAHUA_2]


def test_two_frames_split_at_every_boundary() -> None:
    stream = DAHUA_1 + AJAX_2
    for cut in range(len(stream) + 1):
        splitter = FrameSplitter()
        assert splitter.feed(stream[:cut]) + splitter.feed(stream[cut:]) == [DAHUA_1, AJAX_2], cut


def test_garbage_before_a_frame_is_one_rejection() -> None:
    out = FrameSplitter().feed(b"GET / HTTP/1.0 hello" + AJAX_1)
    assert len(out) == 2
    assert isinstance(out[0], Rejection)
    assert out[0].reason is RejectReason.GARBAGE
    assert out[0].raw == b"GET / HTTP/1.0 hello"
    assert out[1] == AJAX_1


def test_garbage_fed_byte_by_byte_is_reported_once() -> None:
    splitter = FrameSplitter()
    out: list[bytes | Rejection] = []
    for byte in b"\x16\x03\x01 some TLS hello" + AJAX_1:
        out += splitter.feed(bytes([byte]))
    assert [type(item) for item in out] == [Rejection, bytes]
    assert isinstance(out[0], Rejection)
    assert out[0].raw == b"\x16\x03\x01 some TLS hello"


def test_endless_garbage_is_reported_once_and_memory_stays_bounded() -> None:
    splitter = FrameSplitter(max_frame_length=256)
    out: list[bytes | Rejection] = []
    for _ in range(1000):
        out += splitter.feed(b"x" * 1000)
        assert splitter.buffered <= 256
    out += splitter.feed(AJAX_1)
    assert len(out) == 2
    assert isinstance(out[0], Rejection)
    assert out[0].reason is RejectReason.GARBAGE
    assert len(out[0].raw) == 256
    assert out[1] == AJAX_1


def test_nul_and_cr_filler_between_frames_is_not_garbage() -> None:
    # A panel seen by ioBroker.sia (issue #11) sends a NUL after each CR.
    assert FrameSplitter().feed(AJAX_1 + b"\x00" + AJAX_2 + b"\x00\x00\r\n") == [AJAX_1, AJAX_2]


def test_too_long_frame_is_rejected_and_the_next_frame_still_read() -> None:
    splitter = FrameSplitter(max_frame_length=64)
    long_frame = b"\n" + b"A" * 200 + b"\r"
    out = splitter.feed(long_frame[:100])
    assert len(out) == 1
    assert isinstance(out[0], Rejection)
    assert out[0].reason is RejectReason.TOO_LONG
    assert len(out[0].raw) == 64
    assert splitter.buffered <= 64
    assert splitter.feed(long_frame[100:] + AJAX_2) == [AJAX_2]


def test_frame_exactly_at_the_limit_is_accepted() -> None:
    assert FrameSplitter(max_frame_length=len(AJAX_1)).feed(AJAX_1) == [AJAX_1]
    out = FrameSplitter(max_frame_length=len(AJAX_1) - 1).feed(AJAX_1)
    assert isinstance(out[0], Rejection)
    assert out[0].reason is RejectReason.TOO_LONG


def test_frame_without_cr_ends_at_the_next_lf() -> None:
    out = FrameSplitter().feed(AJAX_1[:-1] + AJAX_2)
    assert out == [AJAX_1[:-1], AJAX_2]
    envelope = parse_envelope(AJAX_1[:-1])
    assert not isinstance(envelope, Rejection)
    assert envelope.account == "CCC"


def test_binary_crc_holding_cr_and_lf_bytes_stays_one_frame() -> None:
    # Lupus XT2 and Jablotron JA-100 send the CRC as two binary bytes, which can be LF or CR.
    frames = {}
    for sequence in range(3000):
        frame = encode_frame("NULL", sequence, "1234", "", line="0", crc_binary=True)
        if frame[1] in (0x0A, 0x0D) or frame[2] in (0x0A, 0x0D):
            frames[frame[1:3]] = frame
    tricky = list(frames.values())[:6]
    assert len(tricky) == 6
    stream = b"".join(tricky)
    assert FrameSplitter().feed(stream) == tricky
    for frame in tricky:
        envelope = parse_envelope(frame)
        assert not isinstance(envelope, Rejection)
        assert envelope.crc_binary


def test_flush_returns_a_frame_missing_its_cr_and_reports_trailing_garbage() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(AJAX_1[:-1]) == []
    assert splitter.flush() == [AJAX_1[:-1]]
    assert splitter.buffered == 0
    splitter.feed(b"junk")
    out = splitter.flush()
    assert len(out) == 1
    assert isinstance(out[0], Rejection)
    assert out[0].reason is RejectReason.GARBAGE


def test_split_datagram_handles_a_udp_payload_with_or_without_cr() -> None:
    assert split_datagram(AJAX_1) == [AJAX_1]
    assert split_datagram(AJAX_1[:-1]) == [AJAX_1[:-1]]
    assert split_datagram(AJAX_1 + b"\x00\x00") == [AJAX_1]


def test_frames_from_the_splitter_decode() -> None:
    out = FrameSplitter().feed(DAHUA_1 + DAHUA_2)
    messages = []
    for frame in frames_of(out):
        envelope = parse_envelope(frame)
        assert not isinstance(envelope, Rejection)
        message = open_message(envelope, None, datetime(2023, 9, 18, 17, 24, tzinfo=UTC), enforce_window=False)
        assert not isinstance(message, Rejection)
        messages.append(message)
    assert [m.events[0].code for m in messages] == ["602", "406"]


def test_max_frame_length_must_fit_a_frame() -> None:
    with pytest.raises(ValueError, match="too small"):
        FrameSplitter(max_frame_length=5)


_STREAM_BYTES = st.lists(
    st.sampled_from([b"\n", b"\r", b"\x00", b" ", b'"', b"0", b"A", b"#", b"[", b"]", b"\xff"]), max_size=40
)
# The inside of a read the shortcut takes: no LF or CR, long enough to be told from a frame's start.
_FRAME_INSIDE = st.lists(st.sampled_from([b"\x00", b" ", b'"', b"0", b"A", b"#", b"[", b"]", b"\xff"]), min_size=9)
_EARLIER_READS = st.sampled_from(
    [
        b"",
        b"garbage",
        b"\n0000",
        b"\r\n\x00",
        DAHUA_1,
        DAHUA_1 + b"junk",
        b"\n" + b"A" * 100,
        b"\n" + b"A" * 100 + b"\r",
    ]
)


@settings(max_examples=500, deadline=None)
@given(_EARLIER_READS, _FRAME_INSIDE, _EARLIER_READS, st.integers(18, 60))
def test_the_one_whole_frame_shortcut_gives_what_the_scan_gives(
    before: bytes, inside: list[bytes], after: bytes, limit: int
) -> None:
    # feed() answers a read holding exactly one whole frame without scanning it; after any earlier read (none,
    # garbage, a frame, a partial or too-long one) it must return and keep exactly what the scan would, down to
    # how the next read is treated.
    data = b"\n" + b"".join(inside) + b"\r"
    fed, scanned = FrameSplitter(limit), FrameSplitter(limit)
    assert fed.feed(before) == scanned.feed(before)
    assert fed.feed(data) == scanned._scan(data)
    assert fed.buffered == scanned.buffered
    assert fed.feed(after) == scanned.feed(after)
    assert fed.flush() == scanned.flush()


@settings(max_examples=300, deadline=None)
@given(_STREAM_BYTES, _STREAM_BYTES)
def test_any_read_gives_what_the_scan_gives(before: list[bytes], data: list[bytes]) -> None:
    fed, scanned = FrameSplitter(18), FrameSplitter(18)
    assert fed.feed(b"".join(before)) == scanned.feed(b"".join(before))
    assert fed.feed(b"".join(data)) == scanned._scan(b"".join(data))
    assert fed.buffered == scanned.buffered


def test_a_whole_frame_read_on_its_own_takes_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the property tests above compare must be the path panels take: one frame per read, nothing held.
    def scanned(self: FrameSplitter, data: bytes) -> list[bytes | Rejection]:
        raise AssertionError("scanned")

    splitter = FrameSplitter()
    monkeypatch.setattr(FrameSplitter, "_scan", scanned)
    assert splitter.feed(DAHUA_1) == [DAHUA_1] and splitter.feed(AJAX_1) == [AJAX_1]
    with pytest.raises(AssertionError, match="scanned"):
        splitter.feed(AJAX_1 + AJAX_2)

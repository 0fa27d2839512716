"""Property tests of the whole decode path: splitter, envelope and message never raise, whatever comes in."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.dc09 import (
    Envelope,
    FrameSplitter,
    Message,
    Rejection,
    cid_data,
    encode_frame,
    open_message,
    parse_envelope,
    sia_data,
)

KEY = bytes.fromhex("ABCDABCDABCDABCDABCDABCDABCDABCD")
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LIMIT = 256

VALID_FRAMES = [
    encode_frame("ADM-CID", 1, "1234", cid_data("1234", 1, 130, 1, 15), timestamp=NOW),
    encode_frame("SIA-DCS", 2, "1234", sia_data("1234", "BA", 15, partition=1), receiver="9", line="2", timestamp=NOW),
    encode_frame("ADM-CID", 3, "ABCD", cid_data("ABCD", 3, 401, 2, 7), timestamp=NOW, key=KEY),
    encode_frame("NULL", 4, "1234", "", timestamp=NOW, key=KEY),
    encode_frame("NULL", 5, "1234", "", timestamp=NOW, crc_binary=True),
    encode_frame("SIA-DCS", 6, "1234", "#1234|NHB0003", extended=("ITEST àäâèéêïîöôü", "X1"), timestamp=NOW),
]


def decode(item: bytes | Rejection, key: bytes = KEY) -> Message | Rejection:
    if isinstance(item, Rejection):
        return item
    env = parse_envelope(item)
    if isinstance(env, Rejection):
        return env
    assert isinstance(env, Envelope)
    return open_message(env, key if env.encrypted else None, NOW, enforce_window=True)


def run(chunks: list[bytes], key: bytes = KEY) -> list[Message | Rejection]:
    splitter = FrameSplitter(LIMIT)
    results: list[Message | Rejection] = []
    for chunk in chunks:
        results += [decode(item, key) for item in splitter.feed(chunk)]
        assert splitter.buffered <= LIMIT
    results += [decode(item, key) for item in splitter.flush()]
    assert splitter.buffered == 0
    for result in results:
        assert isinstance(result, Message | Rejection)
    return results


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=12))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    run(chunks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\x00", b'"', b"[", b"]", b"|", b"#", b"0", b"A", b"*"]), max_size=400))
def test_delimiter_soup_never_raises(pieces: list[bytes]) -> None:
    run([b"".join(pieces)])


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(frame)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or not frame:
            frame[position:position] = bytes([draw(st.integers(0, 255))])
        elif action == "delete":
            del frame[min(position, len(frame) - 1)]
        else:
            frame[min(position, len(frame) - 1)] = draw(st.integers(0, 255))
    return bytes(frame)


@settings(max_examples=500, deadline=None)
@given(mutated_frames(), st.integers(0, 200))
def test_mutated_frames_never_raise(frame: bytes, cut: int) -> None:
    run([frame[:cut], frame[cut:]])
    # Handed straight to the decoder (a UDP datagram, an MQTT payload) as well.
    decode(frame)


def test_valid_frames_decode_to_messages() -> None:
    results = run([b"".join(VALID_FRAMES)])
    assert [type(result) for result in results] == [Message] * len(VALID_FRAMES)


def test_a_frame_split_at_every_byte_boundary_decodes_the_same() -> None:
    stream = b"".join(VALID_FRAMES)
    expected = run([stream])
    for cut in range(len(stream) + 1):
        assert run([stream[:cut], stream[cut:]]) == expected, cut


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, sum(len(f) for f in VALID_FRAMES)), max_size=8))
def test_a_stream_cut_anywhere_decodes_the_same(cuts: list[int]) -> None:
    stream = b"".join(VALID_FRAMES)
    points = [0, *sorted(cuts), len(stream)]
    assert run([stream[a:b] for a, b in pairwise(points)]) == run([stream])


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from([KEY, b"0123456789abcdef01234567", b"k" * 32, None]),
    qualifier=st.sampled_from([1, 3, 6]),
    code=st.integers(100, 999),
    partition=st.integers(0, 99),
    zone=st.integers(0, 999),
    sequence=st.integers(0, 9999),
    account=st.from_regex(r"[0-9A-F]{3,16}", fullmatch=True),
    skew=st.integers(-40, 20),
)
def test_encoded_contact_id_round_trips(
    key: bytes | None,
    qualifier: int,
    code: int,
    partition: int,
    zone: int,
    sequence: int,
    account: str,
    skew: int,
) -> None:
    data = cid_data(account, qualifier, code, partition, zone)
    frame = encode_frame("ADM-CID", sequence, account, data, timestamp=NOW + timedelta(seconds=skew), key=key)
    (result,) = run([frame], key or KEY)
    assert isinstance(result, Message), result
    (event,) = result.events
    assert (event.code, event.partition, event.zone_or_user) == (f"{code:03d}", f"{partition:02d}", f"{zone:03d}")
    assert result.envelope.sequence == f"{sequence:04d}"
    assert result.data_account == account

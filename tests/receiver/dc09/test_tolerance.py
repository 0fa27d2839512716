"""Field variants real transmitters send: what the codec accepts (with a deviation word), what it refuses, and the
exact bytes it answers; at the end, frames without the "L" field through the running receiver (TCP and UDP)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from receiver import fastpath, metrics
from receiver.dc09 import (
    Envelope,
    Message,
    Rejection,
    RejectReason,
    ack,
    cid_data,
    duh,
    encode_frame,
    nak,
    open_message,
    parse_answer,
    parse_envelope,
    sia_data,
    split_datagram,
)
from receiver.dc09.wire import decrypt_region, encrypt_region, format_timestamp, wrap
from receiver.service import RunningReceiver
from shared.enrolment import create_customer
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, PLAIN_ACCOUNT

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
KEYS = {None: None, 128: bytes(range(16)), 256: bytes(range(100, 132))}
PAD = b"p" * 16


def data_of(kind: str, account: str) -> str:
    if kind == "ADM-CID":
        return cid_data(account, 1, 130, 1, 15)
    if kind == "SIA-DCS":
        return sia_data(account, "BA", 15, partition=1)
    return ""


def opened(frame: bytes, key: bytes | None, *, enforce: bool = True) -> Message:
    env = parse_envelope(frame)
    assert not isinstance(env, Rejection), env
    message = open_message(env, key, NOW, enforce_window=enforce)
    assert not isinstance(message, Rejection), message
    return message


# ---- no "L" field ----


@pytest.mark.parametrize("bits", [None, 128, 256])
@pytest.mark.parametrize("kind", ["SIA-DCS", "ADM-CID", "NULL"])
@pytest.mark.parametrize("receiver", [None, "12"])
def test_a_frame_without_the_line_field_is_accepted_and_acked_without_one(
    bits: int | None, kind: str, receiver: str | None
) -> None:
    key = KEYS[bits]
    frame = encode_frame(
        kind, 7, "1234", data_of(kind, "1234"), receiver=receiver, line=None, timestamp=NOW, key=key, pad=PAD
    )
    header = f'"{"*" if key else ""}{kind}"0007{"R" + receiver if receiver else ""}#1234['.encode()
    assert frame[9 : 9 + len(header)] == header  # the header exactly: no "L" between sequence (or R) and "#"
    message = opened(frame, key)
    env = message.envelope
    assert (env.line, env.receiver, env.account, env.deviations) == ("", receiver, "1234", ("no_line_field",))
    assert len(message.events) == (0 if kind == "NULL" else 1)

    answer = ack(env, key, NOW, pad=PAD)
    ack_header = f'"{"*" if key else ""}ACK"0007{"R" + receiver if receiver else ""}#1234['.encode()
    if key is None:
        assert answer == wrap(ack_header + b"]")
    else:
        assert answer == wrap(ack_header + encrypt_region(key, b"]" + format_timestamp(NOW), PAD))
        assert decrypt_region(key, answer[answer.index(b"[") + 1 : -1]) == PAD[:10] + b"|]" + format_timestamp(NOW)
    read = parse_answer(answer, key)
    assert not isinstance(read, Rejection)
    assert (read.kind, read.sequence, read.receiver, read.line, read.account) == ("ack", "0007", receiver, "", "1234")


@pytest.mark.parametrize("receiver", [None, "5"])
def test_duh_mirrors_a_header_without_the_line_field(receiver: str | None) -> None:
    frame = encode_frame("ADM-XYZ", 3, "1234", "", receiver=receiver, line=None, timestamp=NOW)
    env = parse_envelope(frame)
    assert not isinstance(env, Rejection)
    refused = open_message(env, None, NOW, enforce_window=False)
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.UNSUPPORTED
    assert duh(env) == wrap(f'"DUH"0003{"R" + receiver if receiver else ""}#1234[]'.encode())


def test_a_bare_line_field_is_dc09_and_is_echoed_bare() -> None:
    frame = encode_frame("SIA-DCS", 1, "9999", "#9999|NBA2", line="", timestamp=NOW)
    env = opened(frame, None).envelope
    assert (env.line, env.deviations) == ("", ())
    assert ack(env, None, NOW) == wrap(b'"ACK"0001L#9999[]')


def test_a_real_frame_without_the_line_field() -> None:
    # Tellmon IP bridge, pysiaalarm issue #60 (its CRC as captured).
    frame = b'\nD2860025"NULL"0001#1997[]_17:07:08,05-23-2024\r'
    env = parse_envelope(frame)
    assert not isinstance(env, Rejection)
    assert (env.account, env.line, env.receiver, env.deviations) == ("1997", "", None, ("no_line_field",))
    assert ack(env, None, NOW) == wrap(b'"ACK"0001#1997[]')


@pytest.mark.skipif(not fastpath.AVAILABLE, reason="the compiled fast path is not built")
@pytest.mark.parametrize("bits", [None, 128, 256])
@pytest.mark.parametrize("kind", ["SIA-DCS", "ADM-CID", "NULL"])
def test_the_fast_path_leaves_frames_without_the_line_field_to_the_codec(bits: int | None, kind: str) -> None:
    key = KEYS[bits]
    frame = encode_frame(kind, 7, "1234", data_of(kind, "1234"), receiver="1", line=None, timestamp=NOW, key=key)
    assert fastpath.peek_account(frame) is None
    assert fastpath.decode(frame, key, NOW, True, "head") is None
    with_line = encode_frame(kind, 7, "1234", data_of(kind, "1234"), receiver="1", line="0", timestamp=NOW, key=key)
    assert fastpath.decode(with_line, key, NOW, True, "head") is not None  # the same frame with "L0" does take it


# ---- lower-case hex in the header ----


def test_lower_case_account_receiver_and_line_are_accepted_and_mirrored() -> None:
    frame = encode_frame("ADM-CID", 9, "ab12", cid_data("ab12", 1, 130, 1, 3), receiver="1f", line="a", timestamp=NOW)
    env = opened(frame, None).envelope
    assert (env.account, env.receiver, env.line) == ("ab12", "1f", "a")
    assert env.deviations == ("lowercase_account", "lowercase_receiver", "lowercase_line")
    assert ack(env, None, NOW) == wrap(b'"ACK"0009R1fLa#ab12[]')


def test_upper_case_and_digits_are_no_deviation() -> None:
    frame = encode_frame("ADM-CID", 9, "AB12", cid_data("AB12", 1, 130, 1, 3), receiver="1F", line="0", timestamp=NOW)
    assert opened(frame, None).envelope.deviations == ()


# ---- no account in the header ----


def test_a_plain_header_without_account_takes_the_data_blocks_and_the_ack_leaves_it_out() -> None:
    # ioBroker.sia issue #4, as captured (its CRC): "SIA-DCS"0001L[#9999|NBA2]
    frame = b'\n9F0D001A"SIA-DCS"0001L[#9999|NBA2]\r\x00'
    message = opened(frame, None, enforce=False)  # untimed
    env = message.envelope
    assert (env.account, env.line, env.deviations) == ("9999", "", ("no_header_account",))
    assert message.data_account == "9999" and [(e.code, e.zone_or_user) for e in message.events] == [("BA", "2")]
    assert ack(env, None, NOW) == wrap(b'"ACK"0001L[]')
    assert duh(env) == wrap(b'"DUH"0001L[]')


def test_neither_line_nor_header_account() -> None:
    frame = encode_frame("ADM-CID", 8, None, cid_data("12ab", 1, 130, 1, 3), receiver="2", line=None)
    env = opened(frame, None, enforce=False).envelope
    assert env.account == "12ab"
    assert env.deviations == ("no_line_field", "no_header_account")  # the data block's case is not the header's
    assert ack(env, None, NOW) == wrap(b'"ACK"0008R2[]')


# ---- the encrypted pad ----


@pytest.mark.parametrize("pad", [bytes([0x14, 0x1F, 0x00, 0x7F, 0x80, 0xFF]) * 3, b"^_#  \t" * 3])
def test_pad_bytes_outside_printable_ascii_are_dc09(pad: bytes) -> None:
    # DC-09 forbids only '|', '[' and ']' in the pad; dc09_spt draws from chr(20..125) (control characters too).
    key = KEYS[128]
    frame = encode_frame("SIA-DCS", 2, "1234", sia_data("1234", "BA", 1), timestamp=NOW, key=key, pad=pad)
    message = opened(frame, key)
    assert message.envelope.deviations == () and [e.code for e in message.events] == ["BA"]


def test_a_pad_of_17_bytes_is_accepted() -> None:
    key = KEYS[256]
    # jvanovost/dc09_spt pads 17 - (len('|' + msg) + 21) % 16 bytes: 17 for this message (1 + 10 + 21 = 32).
    data = "#1234|NBA"
    plaintext = b"q" * 17 + b"|" + data.encode() + b"]" + format_timestamp(NOW)
    assert len(plaintext) % 16 == 0
    frame = wrap(b'"*SIA-DCS"0004L0#1234[' + _cbc(key, plaintext))
    message = opened(frame, key)
    assert message.data == data and [e.code for e in message.events] == ["BA"]
    assert message.envelope.deviations == ("long_pad",)
    if fastpath.AVAILABLE:
        assert fastpath.decode(frame, key, NOW, True, "head") is None  # left to the codec


def test_no_pad_terminator_within_18_bytes_is_refused() -> None:
    key = KEYS[128]
    plaintext = b"q" * 18 + b"|#1234|NBA]" + format_timestamp(NOW)
    plaintext = b"q" * (16 - len(plaintext) % 16) + plaintext
    frame = wrap(b'"*SIA-DCS"0004L0#1234[' + _cbc(key, plaintext))
    refused = open_message(opened_envelope(frame), key, NOW, enforce_window=True)
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.DECRYPT


def _cbc(key: bytes, plaintext: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return (encryptor.update(plaintext) + encryptor.finalize()).hex().upper().encode()


def opened_envelope(frame: bytes) -> Envelope:
    env = parse_envelope(frame)
    assert not isinstance(env, Rejection), env
    return env


# ---- bytes after the CR ----


def test_filler_after_the_cr_is_ignored() -> None:
    frame = encode_frame("ADM-CID", 5, "1234", cid_data("1234", 1, 130, 1, 3), line="0", timestamp=NOW)
    for tail in (b"\x00", b"\r\n", b"\n\x00\x00", b" \t"):
        assert split_datagram(frame + tail) == [frame]
        assert opened(frame + tail, None).envelope.deviations == ()


def test_other_bytes_after_the_cr_leave_the_frame_accepted_and_are_garbage_with_no_answer() -> None:
    frame = encode_frame("ADM-CID", 5, "1234", cid_data("1234", 1, 130, 1, 3), line="0", timestamp=NOW)
    first, garbage = split_datagram(frame + b"\x1a\x04junk")
    assert first == frame and opened(first, None).events
    assert isinstance(garbage, Rejection) and garbage.reason is RejectReason.GARBAGE
    assert garbage.reason.answer is None  # silence: the frame before it is ACKed as usual


def test_a_whole_frame_with_bytes_after_its_cr_is_refused_by_length() -> None:
    # Handed over whole (not through the splitter) the bytes are inside the frame: the length field is wrong.
    frame = encode_frame("ADM-CID", 5, "1234", cid_data("1234", 1, 130, 1, 3), line="0", timestamp=NOW)
    refused = parse_envelope(frame + b"junk")
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.LENGTH
    assert refused.reason.answer == "nak"


# ---- ambiguous headers: NAK ----


@pytest.mark.parametrize(
    "body",
    [
        b'"SIA-DCS"0001L1L2#1234[#1234|NBA1]',  # two line fields
        b'"SIA-DCS"0001L0[1234|NBA1]',  # no account in the header, none with '#' in the data block
        b'"SIA-DCS"0001L0A0[#1234|NBA1]',  # a NAK's "A0" in a panel's message
        b'"NULL"0001L0[]',  # no account anywhere
        b'"*SIA-DCS"0001L0[' + b"0" * 32,  # encrypted without an account: no key to open it with
        b'"SIA-DCS"0001L0#12[#12|NBA1]',  # an account of two digits
        b'"SIA-DCS"0001L1234567#1234[#1234|NBA1]',  # a line of seven
        b'"SIA-DCS"0001R1R2#1234[#1234|NBA1]',  # two receivers
        b'"SIA-DCS"0001#12G4[#1234|NBA1]',  # not hex
    ],
)
def test_ambiguous_headers_are_refused_with_nak(body: bytes) -> None:
    refused = parse_envelope(wrap(body))
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.MALFORMED
    assert refused.reason.answer == "nak"
    assert nak(NOW) == wrap(b'"NAK"0000R0L0A0[]_12:00:00,11-21-2026')


# ---- RSP ----


@pytest.mark.parametrize("line", ["0", None])
def test_rsp_from_a_panel_gets_duh_and_nothing_is_stored(line: str | None) -> None:
    # RSP is the receiver's answer carrying data (see SUPPORTED_TYPES in decode.py): a panel does not originate it.
    frame = encode_frame("RSP", 6, "1234", "#1234|NBA1", receiver="1", line=line, timestamp=NOW)
    env = opened_envelope(frame)
    refused = open_message(env, None, NOW, enforce_window=True)
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.UNSUPPORTED
    assert refused.reason.answer == "duh"
    assert duh(env) == wrap(b'"DUH"0006R1' + (b"L0" if line else b"") + b"#1234[]")


# ---- end to end: the real receiver over TCP and UDP, real PostgreSQL ----

AES256_ACCOUNT = "9ABC"
AES256_KEY = bytes(range(100, 132))


@pytest_asyncio.fixture
async def aes256_panel(db: asyncpg.Pool, enrolled: dict[str, int]) -> int:
    async with db.acquire() as connection:
        created = await create_customer(
            connection,
            name="AES-256 Panel",
            email="aes256@example.com",
            password=None,
            account=AES256_ACCOUNT,
            dc09_key=AES256_KEY.hex(),
            dc09_key_format="hex",
        )
    return created.panel_id


async def udp_exchange(address: tuple[str, int], frame: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            answers.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=address)
    try:
        transport.sendto(frame)
        async with asyncio.timeout(5):
            return await answers.get()
    finally:
        transport.close()


async def tcp_exchange(address: tuple[str, int], frame: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(frame)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.readuntil(b"\r")
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_frames_without_the_line_field_are_stored_once_each_and_acked_as_sent(
    receiver: RunningReceiver, db: asyncpg.Pool, aes256_panel: int, transport: str
) -> None:
    address = receiver.tcp_address if transport == "tcp" else receiver.udp_address
    assert address is not None
    exchange = tcp_exchange if transport == "tcp" else udp_exchange
    cases = [
        (PLAIN_ACCOUNT, None, "ADM-CID", None),
        (PLAIN_ACCOUNT, None, "SIA-DCS", "3"),
        (AES_ACCOUNT, AES_KEY, "ADM-CID", "3"),
        (AES_ACCOUNT, AES_KEY, "SIA-DCS", None),
        (AES256_ACCOUNT, AES256_KEY, "ADM-CID", None),
        (AES256_ACCOUNT, AES256_KEY, "SIA-DCS", "3"),
    ]
    tolerated = metrics.TOLERATED.values.get(("no_line_field",), 0)
    for seq, (account, key, kind, rcvr) in enumerate(cases, start=21):
        sent_at = receiver_now()
        frame = encode_frame(
            kind, seq, account, data_of(kind, account), receiver=rcvr, line=None, timestamp=sent_at, key=key
        )
        raw = await exchange(address, frame)
        header = f'"{"*" if key else ""}ACK"{seq:04d}{"R" + rcvr if rcvr else ""}#{account}['.encode()
        assert raw[9 : 9 + len(header)] == header, raw
        if key is None:
            assert raw == wrap(header + b"]")
        else:
            answer = parse_answer(raw, key)
            assert not isinstance(answer, Rejection) and answer.timestamp is not None
            assert answer.kind == "ack" and answer.encrypted
        rows = await db.fetch(
            "SELECT format, line, receiver, sequence, transport FROM signals WHERE account = $1 AND sequence = $2",
            account,
            f"{seq:04d}",
        )
        assert [tuple(row) for row in rows] == [(kind, "", rcvr or "", f"{seq:04d}", transport)]  # absent: ""
    null = encode_frame("NULL", 40, AES256_ACCOUNT, "", line=None, timestamp=receiver_now(), key=AES256_KEY)
    answer = parse_answer(await exchange(address, null), AES256_KEY)
    assert not isinstance(answer, Rejection) and (answer.kind, answer.sequence, answer.line) == ("ack", "0040", "")
    assert await db.fetchval("SELECT count(*) FROM signals") == len(cases)
    assert metrics.TOLERATED.values[("no_line_field",)] - tolerated == len(cases) + 1  # counted by the ingestor


def receiver_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def test_a_plain_frame_without_header_account_is_stored_for_the_data_blocks(
    receiver: RunningReceiver, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    frame = encode_frame("SIA-DCS", 50, None, sia_data(PLAIN_ACCOUNT, "BA", 4), line="", timestamp=receiver_now())
    assert await tcp_exchange(receiver.tcp_address, frame) == wrap(b'"ACK"0050L[]')
    rows = await db.fetch("SELECT panel_id, code, zone, line FROM signals WHERE account = $1", PLAIN_ACCOUNT)
    assert [tuple(row) for row in rows] == [(enrolled[PLAIN_ACCOUNT], "BA", "004", "")]

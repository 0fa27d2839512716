"""A retransmission without a timestamp is stored once (sql/0019_untimed_retransmission.sql), against the real
receiver and PostgreSQL: the same plain frame again within the window is acknowledged and merged; a wrapped
sequence number, a restarted panel, the window's end, or a window of 0 never merge two real signals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio

from receiver import fastpath, housekeeping
from receiver.batch_writer import BatchWriter, _insert_untimed, _Submission
from receiver.dc09 import (
    Envelope,
    Message,
    cid_data,
    encode_frame,
    open_message,
    parse_answer,
    parse_envelope,
    sia_data,
)
from receiver.housekeeping import Housekeeping
from receiver.ingest import untimed_transmission
from receiver.service import RunningReceiver, receiver_service
from receiver.signal_rows import message_rows
from tests.receiver.conftest import PLAIN_ACCOUNT, Panel, now, receiver_config


def untimed(sequence: int, code: int = 130, zone: int = 3, *, line: str = "1") -> bytes:
    """A plain Contact ID frame without a timestamp, as many panels send them."""
    return encode_frame(
        "ADM-CID", sequence, PLAIN_ACCOUNT, cid_data(PLAIN_ACCOUNT, 1, code, 1, zone), receiver="12", line=line
    )


def timed(sequence: int, code: int = 130, zone: int = 3, *, sent_at: datetime | None = None) -> bytes:
    data = cid_data(PLAIN_ACCOUNT, 1, code, 1, zone)
    return encode_frame("ADM-CID", sequence, PLAIN_ACCOUNT, data, receiver="12", line="1", timestamp=sent_at or now())


async def stored(db: asyncpg.Pool) -> list[tuple[str, str, str | None]]:
    rows = await db.fetch("SELECT sequence, code, zone FROM signals WHERE account = $1 ORDER BY id", PLAIN_ACCOUNT)
    return [(row["sequence"], row["code"], row["zone"]) for row in rows]


async def exchange_all(panel: Panel, frames: list[bytes]) -> list[tuple[str, str]]:
    """Send the frames in one write (they reach the writer together) and read an answer for each."""
    await panel.send(*frames)
    return [(answer.kind, answer.sequence) for answer in [await panel.answer() for _ in frames]]


@pytest_asyncio.fixture
async def short_window(database_url: str, enrolled: dict[str, int]) -> AsyncIterator[RunningReceiver]:
    config = receiver_config(ALARMHUB_RECEIVER_RETRANSMISSION_WINDOW="2")
    async with receiver_service(config, database_url) as running:
        yield running


async def test_an_untimed_frame_sent_three_times_is_acknowledged_three_times_and_stored_once(
    panel: Panel, db: asyncpg.Pool
) -> None:
    frame = untimed(7)
    answers = [await panel.exchange(frame) for _ in range(3)]  # as a panel does when the ACKs are lost
    assert [(answer.kind, answer.sequence) for answer in answers] == [("ack", "0007")] * 3
    assert await stored(db) == [("0007", "130", "003")]
    # Sent together, the copies meet in the writer: a batch takes one, the next batch each further copy.
    assert await exchange_all(panel, [untimed(8)] * 3) == [("ack", "0008")] * 3
    assert await stored(db) == [("0007", "130", "003"), ("0008", "130", "003")]


async def test_over_udp_too_and_whatever_follows_the_body(receiver: RunningReceiver, db: asyncpg.Pool) -> None:
    assert receiver.udp_address is not None
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            answers.put_nowait(data)

    frame = untimed(9)
    copies = [frame, frame + b"\x00\x00", frame[:-1]]  # as sent, with NUL filler after it, without its CR
    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=receiver.udp_address)
    try:
        kinds = []
        for copy in copies:
            transport.sendto(copy)
            async with asyncio.timeout(5):
                answer = parse_answer(await answers.get(), None)
            kinds.append(getattr(answer, "kind", answer))
    finally:
        transport.close()
    assert kinds == ["ack"] * 3
    rows = await db.fetch("SELECT transport, sequence FROM signals")
    assert [(row["transport"], row["sequence"]) for row in rows] == [("udp", "0009")]


async def test_ten_thousand_messages_with_wrapping_sequence_numbers_are_all_stored(
    database_url: str, enrolled: dict[str, int], db: asyncpg.Pool
) -> None:
    # The same event every time (a periodic test), the sequence running 0001-9999 and wrapping to 0001: each one
    # follows another message of the panel, so none repeats the last one stored, and none is merged. One
    # connection, all sent at once: each batch takes one message of this panel (the next is deferred), so this
    # is 10,000 commits — without waiting for the disk on each (this test's database only: it is not about
    # durability).
    await db.execute(f'ALTER DATABASE "{urlsplit(database_url).path[1:]}" SET synchronous_commit = off')
    frames = [untimed(number % 9999 + 1, 602, 0) for number in range(10_000)]
    async with receiver_service(receiver_config(), database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            started = time.monotonic()
            answers = await exchange_all(panel, frames)
            elapsed = time.monotonic() - started
            # … and the last one again is still a retransmission.
            assert await exchange_all(panel, [frames[-1]]) == [("ack", "0001")]
        finally:
            await panel.close()
    assert all(kind == "ack" for kind, _ in answers) and len(answers) == 10_000
    assert answers[0] == answers[-1] == ("ack", "0001")
    count = await db.fetchval("SELECT count(*) FROM signals WHERE account = $1 AND code = '602'", PLAIN_ACCOUNT)
    assert count == 10_000, f"{count} stored in {elapsed:.1f} s"


async def test_a_restarted_panel_reusing_its_sequence_numbers_has_every_signal_stored(
    panel: Panel, db: asyncpg.Pool
) -> None:
    # Before the restart: 0001-0003. After it (within the window: the stricter case — after it, nothing could
    # merge anyway) the panel starts again at 0001, with other events, and then with the first one's very event.
    before = [untimed(1, 130, 1), untimed(2, 130, 2), untimed(3, 401, 5)]
    after = [untimed(1, 301, 0), untimed(2, 302, 0), untimed(1, 130, 1)]
    for frame in before + after:
        assert (await panel.exchange(frame)).kind == "ack"
    assert await stored(db) == [
        ("0001", "130", "001"),
        ("0002", "130", "002"),
        ("0003", "401", None),
        ("0001", "301", "000"),
        ("0002", "302", "000"),
        ("0001", "130", "001"),
    ]


async def test_the_same_message_after_the_window_is_stored_again(
    short_window: RunningReceiver, db: asyncpg.Pool
) -> None:
    panel = await Panel.connect(short_window.tcp_address)
    try:
        frame = untimed(11)
        first_sent = time.monotonic()
        assert (await panel.exchange(frame)).kind == "ack"
        # Within the 2-s window: merged. (A 1-s window made this flaky on a loaded CI machine, where the first
        # commit and its ACK can take longer than the window itself.)
        assert (await panel.exchange(frame)).kind == "ack"
        await asyncio.sleep(max(0.0, first_sent + 2.5 - time.monotonic()))
        assert (await panel.exchange(frame)).kind == "ack"  # past it: a new signal
        assert (await panel.exchange(frame)).kind == "ack"  # and its own retransmission, merged
    finally:
        await panel.close()
    assert await stored(db) == [("0011", "130", "003")] * 2


async def test_a_window_of_zero_never_merges(database_url: str, enrolled: dict[str, int], db: asyncpg.Pool) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_RETRANSMISSION_WINDOW="0")
    async with receiver_service(config, database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            answers = [await panel.exchange(untimed(12)) for _ in range(3)]
            assert await exchange_all(panel, [untimed(13)] * 2) == [("ack", "0013")] * 2
        finally:
            await panel.close()
    assert [answer.kind for answer in answers] == ["ack"] * 3
    assert await stored(db) == [("0012", "130", "003")] * 3 + [("0013", "130", "003")] * 2
    assert await db.fetchval("SELECT count(*) FROM untimed_transmissions") == 0


async def _waiting_for_the_lock(db: asyncpg.Pool, writers: int) -> None:
    for _ in range(500):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO untimed_transmissions%'"
        )
        if waiting >= writers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the writers never waited for the table")


async def test_two_receivers_taking_copies_of_one_message_at_once_store_it_once(
    database_url: str, enrolled: dict[str, int], db: asyncpg.Pool
) -> None:
    # A panel that retransmitted to another receiver (a failover, a load balancer): both copies are in flight in
    # two writers at the same moment. Held at a lock until both wait, then let go together: the upsert's row lock
    # makes the second wait for the first, see its row, and store nothing; both panels' copies are acknowledged.
    frame = untimed(21)
    async with (
        receiver_service(receiver_config(), database_url) as first,
        receiver_service(receiver_config(), database_url) as second,
    ):
        panels = [await Panel.connect(first.tcp_address), await Panel.connect(second.tcp_address)]
        try:
            async with db.acquire() as holder, holder.transaction():
                await holder.execute("LOCK TABLE untimed_transmissions IN EXCLUSIVE MODE")
                for panel in panels:
                    await panel.send(frame)
                await _waiting_for_the_lock(db, 2)
            answers = [await panel.answer() for panel in panels]
        finally:
            for panel in panels:
                await panel.close()
    assert [(answer.kind, answer.sequence) for answer in answers] == [("ack", "0021")] * 2
    assert await stored(db) == [("0021", "130", "003")]


def _submission(frame: bytes, received_at: datetime, done: list[Exception | None]) -> _Submission:
    envelope = parse_envelope(frame)
    assert isinstance(envelope, Envelope)
    message = open_message(envelope, None, received_at, enforce_window=False)
    assert isinstance(message, Message)
    rows = message_rows(message, None, PLAIN_ACCOUNT, "tcp", "127.0.0.1:4000", received_at)
    record = untimed_transmission(envelope, received_at) if message.panel_time is None else None
    return _Submission(rows, done.append, record)


async def test_a_batch_mixing_timed_and_untimed_messages(database_url: str, db: asyncpg.Pool) -> None:
    # One statement for the whole batch: timed messages as always (a timed retransmission sends it again with ON
    # CONFLICT on the idempotency key), untimed ones through the upsert; a multi-event message's rows go or
    # stay together.
    received_at = datetime.now(UTC)
    sirens = encode_frame("SIA-DCS", 31, PLAIN_ACCOUNT, f"#{PLAIN_ACCOUNT}|Nri1/BA001/FA002/OP003", line="1")
    alarm, power = timed(30, sent_at=now()), untimed(32, 301, 0, line="2")
    done: list[Exception | None] = []
    connection = await asyncpg.connect(database_url)
    try:
        first = [_submission(frame, received_at, done) for frame in (alarm, sirens, power)]
        await _insert_untimed(connection, first, 180.0)
        later = received_at + timedelta(seconds=5)
        fresh = untimed(33, 130, 4)
        # The timed alarm and both untimed messages again, and a new one: only the new one is stored.
        second = [_submission(frame, later, done) for frame in (fresh, sirens, alarm, power)]
        await _insert_untimed(connection, second, 180.0)
        last = await connection.fetch("SELECT receiver, line, sequence FROM untimed_transmissions ORDER BY 1, 2")
    finally:
        await connection.close()
    rows = await db.fetch("SELECT sequence, code, event_index FROM signals ORDER BY id")
    assert [(row["sequence"], row["code"], row["event_index"]) for row in rows] == [
        ("0030", "130", 0),
        ("0031", "BA", 0),
        ("0031", "FA", 1),
        ("0031", "OP", 2),
        ("0032", "301", 0),
        ("0033", "130", 0),
    ]
    assert [tuple(row) for row in last] == [("", "1", "0031"), ("12", "1", "0033"), ("12", "2", "0032")]


async def test_untimed_messages_sent_with_timed_ones_through_the_receiver(panel: Panel, db: asyncpg.Pool) -> None:
    # Frames of both kinds in one write land in one batch; the timed retransmission in it is stored once too.
    alarm, trouble = timed(40), untimed(41, 380, 9)
    burglary = encode_frame("SIA-DCS", 42, PLAIN_ACCOUNT, sia_data(PLAIN_ACCOUNT, "BA", 4, partition=1), line="1")
    assert (
        await exchange_all(panel, [alarm, trouble, burglary, alarm, trouble, burglary])
        == [
            ("ack", "0040"),
            ("ack", "0041"),
            ("ack", "0042"),
        ]
        * 2
    )
    assert await stored(db) == [("0040", "130", "003"), ("0041", "380", "009"), ("0042", "BA", "004")]
    transmitters = await db.fetch("SELECT receiver, line, sequence FROM untimed_transmissions ORDER BY 1")
    assert [tuple(row) for row in transmitters] == [("", "1", "0042"), ("12", "1", "0041")]


def test_copies_differing_only_around_the_body_are_one_content() -> None:
    frame = untimed(50)
    records = {}
    for copy in (frame, frame[1:], frame + b"\x00 \r\n", frame[:-1]):
        envelope = parse_envelope(copy)
        assert isinstance(envelope, Envelope)
        records[copy] = untimed_transmission(envelope, datetime(2026, 1, 1, tzinfo=UTC))
    assert len(set(records.values())) == 1
    [record] = set(records.values())
    assert (record.account, record.receiver, record.line, record.sequence) == (PLAIN_ACCOUNT, "12", "1", "0050")
    other = parse_envelope(untimed(50, 130, 4))
    assert isinstance(other, Envelope)
    assert untimed_transmission(other, datetime(2026, 1, 1, tzinfo=UTC)).content_digest != record.content_digest


@pytest.mark.skipif(not fastpath.AVAILABLE, reason="the compiled fast path is not built")
def test_the_compiled_path_leaves_untimed_frames_to_the_branch_that_marks_them() -> None:
    # receiver/ingest.py's fast branch does not look for a timestamp: it relies on the C code handing every plain
    # frame without one to the reference codec, whose branch tells the writer. Should that change, wire it there.
    head = "1234\x1f\x1f\x1f\x1ftcp\x1f127.0.0.1:1"
    assert fastpath.decode(timed(60), None, datetime.now(UTC), False, head) is not None
    assert fastpath.decode(untimed(60), None, datetime.now(UTC), False, head) is None


async def test_housekeeping_purges_what_is_older_than_the_window_and_the_horizon_a_bounded_number_at_a_time(
    database_url: str, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.execute(
        """INSERT INTO untimed_transmissions (account, receiver, line, sequence, content_digest, received_at)
           SELECT 'A' || n, '', '1', '0001', '\\x00', now() - interval '1 hour' - make_interval(secs => n * 60)
             FROM generate_series(1, 9) n
        """
    )
    # Keys of timed signals: 2 within the horizon (a day) and its hour's margin, 5 past it.
    await db.execute(
        """INSERT INTO signal_keys (account, receiver, line, sequence, panel_time, event_index, code, qualifier,
                                    zone, partition, user_number, signal_id, received_at)
           SELECT 'K' || n, '', '', '0001', now(), 0, '130', 'event', '', '', '', n,
                  now() - interval '1 day' - interval '1 hour' + make_interval(mins => 25 - n * 10)
             FROM generate_series(1, 7) n
        """
    )
    monkeypatch.setattr(housekeeping, "PURGE_ROWS", 3)
    keeper = Housekeeping(  # keeps untimed transmissions 1-3 minutes past the hour's clock margin
        database_url, rejected_kept=100, retransmission_window=200.0, retransmission_horizon=86400.0
    )
    connection = await asyncpg.connect(database_url)
    try:
        rounds = [await keeper.purge(connection) for _ in range(3)]
    finally:
        await connection.close()
    assert rounds == [(3, 3), (3, 2), (0, 0)]  # a full round: the next goes on at once; then not before PURGE_EVERY
    assert keeper._next_purge > time.monotonic() + housekeeping.PURGE_EVERY - 5
    left = await db.fetch("SELECT account FROM untimed_transmissions ORDER BY received_at DESC")
    assert [row["account"] for row in left] == ["A1", "A2", "A3"]
    keys = await db.fetch("SELECT account FROM signal_keys ORDER BY received_at DESC")
    assert [row["account"] for row in keys] == ["K1", "K2"]


async def test_one_panels_flood_of_untimed_frames_holds_no_other_panel_back() -> None:
    # A batch takes one untimed message per transmitter; the transmitter's next ones wait parked, in order, and
    # join the queue one at a time. Before, they sat at the queue's head and each batch scanned 64 of them and
    # stopped: another panel's alarm behind 1,000 of them left in batch 937.
    writer = BatchWriter("postgresql://unused", retransmission_window=180.0)
    writer._connected = 1  # as if a writer connection were up; nothing here touches a database
    received_at = datetime.now(UTC)
    done: list[Exception | None] = []
    flood = [_submission(untimed(n + 1, 602, 0), received_at, done) for n in range(1000)]
    for submission in flood:
        writer.submit_then(submission.rows, submission.on_settled, submission.untimed)
    other = _submission(timed(1), received_at, done)
    writer.submit_then(other.rows, other.on_settled, None)
    assert writer.pending_rows == 1001
    batches: list[list[_Submission]] = []
    while writer.pending_rows:
        batch, _ = writer._take_batch()
        batches.append(batch)
    assert [submission.rows for submission in batches[0]] == [flood[0].rows, other.rows]  # the alarm goes first
    assert all(len(batch) == 1 for batch in batches[1:])  # then the flood, one message a batch
    assert [s.rows for batch in batches for s in batch if s.untimed] == [s.rows for s in flood]  # each once, in order
    flood_from = [submission.untimed for submission in flood]
    assert all(s.untimed is not None for s in flood) and len({(u.account, u.line) for u in flood_from if u}) == 1


async def test_a_parked_message_goes_first_in_the_next_batch() -> None:
    # Released to the queue's end, a transmitter's k-th untimed message waited k passes through a busy queue.
    writer = BatchWriter("postgresql://unused", retransmission_window=180.0, max_batch_rows=2)
    writer._connected = 1
    received_at = datetime.now(UTC)
    done: list[Exception | None] = []
    first, second = (_submission(untimed(n, 602, 0), received_at, done) for n in (1, 2))
    others = [_submission(timed(10 + n), received_at, done) for n in range(5)]
    for submission in (first, second, *others):
        writer.submit_then(submission.rows, submission.on_settled, submission.untimed)
    batches = [[s.rows for s in writer._take_batch()[0]] for _ in range(2)]
    assert batches == [[first.rows, others[0].rows], [second.rows, others[1].rows]]

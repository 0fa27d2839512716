"""Group commit: signals from every connection written in one statement per batch, announced, then released.

A submission is settled only after the batch holding it has committed, so the caller acknowledges the
panel strictly after the signal is durable. Each batch is a single autocommitted statement: INSERT … SELECT
FROM unnest(…), and one pg_notify for the whole batch (per-row NOTIFY serialises concurrent commits on the
notification queue lock).

A retransmission is stored once: its key is in signal_keys already (sql/0023_signal_keys.sql; signals is
partitioned by month and cannot hold a unique key that a later arrival would meet). The statement inserts each
timed row's key into signal_keys and the rows into signals. Batches are first sent without ON CONFLICT, whose
speculative insertion costs PostgreSQL time on every row; only a batch that does hold a duplicate (rare: a panel
that missed an ACK) fails with a unique violation, which rolls the whole statement back, and is sent again with
ON CONFLICT DO NOTHING on the keys and only the rows whose key went in (or that have none) stored.

A plain message without a timestamp has no key (its panel_time is NULL); it carries an `Untimed`
record instead, and a batch holding one is sent as a second statement that first upserts the transmitter's last
untimed message (sql/0019_untimed_retransmission.sql) and stores the message's signals only when that is not a
repeat. Batches without one keep the statement above, untouched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from receiver import metrics
from receiver.signal_rows import FIELD_SEPARATOR, LIST_SEPARATOR, SIGNAL_COLUMNS
from shared import aio
from shared.events import SIGNALS
from shared.logs import get_logger

log = get_logger(__name__)


def _field(position: int, name: str, kind: str, nullable: bool) -> str:
    value = f"f[{position}]"
    if kind == "text[]":
        return f"CASE WHEN {value} = '' THEN '{{}}'::text[] ELSE string_to_array({value}, E'\\x1e') END"
    if kind == "bytea":
        return f"decode({value}, 'hex')"
    if nullable:
        value = f"NULLIF({value}, '')"
    return value if kind == "text" else f"{value}::{kind}"


_NAMES = ", ".join(name for name, _, _ in SIGNAL_COLUMNS)
_FIELDS = ",\n           ".join(
    _field(position, name, kind, nullable) for position, (name, kind, nullable) in enumerate(SIGNAL_COLUMNS, 1)
)
_POSITION = {name: position for position, (name, _, _) in enumerate(SIGNAL_COLUMNS, 1)}
# The idempotency key (sql/0023_signal_keys.sql): the transmission and the event in it; zone, partition and user
# by their first 64 characters, '' when the event has none (as the unique index on signals read them before).
_KEY_COLUMNS = ("account", "receiver", "line", "sequence", "panel_time", "event_index", "code", "qualifier")
_KEY_BOUNDED = ("zone", "partition", "user_number")
_KEY_NAMES = ", ".join((*_KEY_COLUMNS, *_KEY_BOUNDED))
_KEY_FIELDS = ", ".join(
    [_field(_POSITION[name], name, SIGNAL_COLUMNS[_POSITION[name] - 1][1], False) for name in _KEY_COLUMNS]
    + [f"left(f[{_POSITION[name]}], 64)" for name in _KEY_BOUNDED]
)
_TIMED = f"f[{_POSITION['panel_time']}] <> ''"  # a row with a key: its message had a timestamp
_UNTIMED = f"f[{_POSITION['panel_time']}] = ''"
_RECEIVED_AT = f"f[{_POSITION['received_at']}]::timestamptz"
assert FIELD_SEPARATOR == "\x1f" and LIST_SEPARATOR == "\x1e"
_SUMMARY = f"""summary AS (
    SELECT count(*) AS stored, min(id) AS first_id, max(id) AS last_id FROM inserted
)
SELECT stored,
       CASE WHEN stored > 0 THEN pg_notify('{SIGNALS.name}',  -- shared.events.SignalsCommitted
            json_build_object('first_id', first_id, 'last_id', last_id, 'count', stored)::text) END
  FROM summary
"""
_BOUNDED_KEY = ", ".join(f"left(coalesce({name}, ''), 64)" for name in _KEY_BOUNDED)
# The common case: no duplicate in the batch. The signals go in and their keys follow from what they returned (each
# row read once); a key already there, or twice in the batch, is a unique violation that rolls the whole statement
# back. The key insert runs although nothing reads it (PostgreSQL runs every data-modifying WITH to completion).
INSERT_BATCH_NEW = f"""
WITH inserted AS (
    INSERT INTO signals ({_NAMES})
    SELECT {_FIELDS}
      FROM unnest($1::text[]) AS row_text, string_to_array(row_text, E'\\x1f') AS f
    RETURNING id, {", ".join(_KEY_COLUMNS)}, {", ".join(_KEY_BOUNDED)}, received_at
), keyed AS (
    INSERT INTO signal_keys ({_KEY_NAMES}, signal_id, received_at)
    SELECT {", ".join(_KEY_COLUMNS)}, {_BOUNDED_KEY}, id, received_at
      FROM inserted
     WHERE panel_time IS NOT NULL
), {_SUMMARY}"""
# Sent again when the batch holds a retransmission: the keys go first, ON CONFLICT DO NOTHING, and only the rows
# whose key went in (or that have none) are stored. Each row's id is drawn once, in `source`, so that its key
# (signal_keys.signal_id) and its signal share it. The clause names the key's constraint only: a clash on anything
# else (an id, should the sequence fall behind after a restore) must fail loudly and go unacknowledged, never be
# skipped as if it were a retransmission.
IDEMPOTENCY_KEY = "signal_keys_pkey"
INSERT_BATCH_AGAIN = f"""
WITH source AS MATERIALIZED (
    SELECT nextval('signals_id_seq') AS id, f
      FROM unnest($1::text[]) AS row_text, string_to_array(row_text, E'\\x1f') AS f
), keyed AS (
    INSERT INTO signal_keys ({_KEY_NAMES}, signal_id, received_at)
    SELECT {_KEY_FIELDS}, id, {_RECEIVED_AT}
      FROM source
     WHERE {_TIMED}
    ON CONFLICT ON CONSTRAINT {IDEMPOTENCY_KEY} DO NOTHING
    RETURNING signal_id
), inserted AS (
    INSERT INTO signals (id, {_NAMES})
    SELECT id, {_FIELDS}
      FROM source
     WHERE {_UNTIMED} OR id IN (SELECT signal_id FROM keyed)
    RETURNING id
), {_SUMMARY}"""


class Untimed(NamedTuple):
    """A plain message without a timestamp, as the retransmission rule sees it (sql/0019_untimed_retransmission.sql).

    (account, receiver, line) names the transmitter; a batch holds at most one message of each.
    """

    account: str  # the header's, upper case
    receiver: str  # "" when the header has none
    line: str
    sequence: str
    content_digest: bytes  # SHA-256 of the frame's CRC, length and body
    received_at: datetime


# The untimed statement is the timed one with two CTEs before it and its rows filtered. $1 holds every row of the
# batch in order, $2 each row's message number (0: a timed message; k: the k-th untimed one, whose transmitter,
# sequence, digest and time are the k-th elements of $3-$8); $9 is the window in seconds. The upsert takes its
# rows in key order, so two writers lock the rows of the same transmitters in one order. A repeat updates nothing
# and returns nothing (ON CONFLICT still locks the row: a second receiver holding the same message waits, then
# sees it), so only the messages the upsert returned have their signals inserted; every row of a multi-event
# message goes or stays with it.
_UNTIMED_CTES = """\nWITH taken AS (
    INSERT INTO untimed_transmissions AS previous
           (account, receiver, line, sequence, content_digest, received_at)
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[])
     ORDER BY 1, 2, 3
    ON CONFLICT (account, receiver, line) DO UPDATE
       SET sequence = excluded.sequence, content_digest = excluded.content_digest,
           received_at = excluded.received_at
     WHERE previous.sequence <> excluded.sequence
        OR previous.content_digest <> excluded.content_digest
        OR excluded.received_at > previous.received_at + make_interval(secs => $9::float8)
    RETURNING account, receiver, line
), stored_messages AS (
    SELECT message
      FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS m(account, receiver, line, message)
      JOIN taken USING (account, receiver, line)
), """
_TIMED_SOURCE = "FROM unnest($1::text[]) AS row_text, string_to_array(row_text, E'\\x1f') AS f"
_UNTIMED_SOURCE = (
    "FROM unnest($1::text[], $2::int8[]) AS r(row_text, message), string_to_array(r.row_text, E'\\x1f') AS f\n"
    "     WHERE r.message = 0 OR r.message = ANY (ARRAY(SELECT message FROM stored_messages))"
)


def untimed_statement(timed: str) -> str:
    """The statement for a batch holding an untimed message, made from the timed one (``INSERT_BATCH_NEW`` or
    ``INSERT_BATCH_AGAIN``): the same insert of signals and keys, ON CONFLICT or not, behind the upsert."""
    assert timed.startswith("\nWITH ") and timed.count(_TIMED_SOURCE) == 1, "the batch INSERT changed"
    return timed.replace("\nWITH ", _UNTIMED_CTES, 1).replace(_TIMED_SOURCE, _UNTIMED_SOURCE)


INSERT_UNTIMED_NEW = untimed_statement(INSERT_BATCH_NEW)
INSERT_UNTIMED_AGAIN = untimed_statement(INSERT_BATCH_AGAIN)

_SCHEMA_READY = """
SELECT to_regclass('signal_keys') IS NOT NULL
       AND (SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('signals')) IS TRUE
"""
# Each partition has a primary key of its own, so only the sequence keeps ids unique across months: one behind the
# highest id (a restore, a manual insert) would hand out ids that older months hold.
_IDS = """
SELECT (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM signals_id_seq) AS next_id,
       (SELECT max(id) FROM signals) AS newest
"""
# Signals stored without a key in the last hour — by a receiver of the previous version while the partitioning was
# migrated (sql/0025) — get theirs, so that a retransmission of one of them is stored once. In key order, so that
# two writers starting together take the same keys in the same order.
_RECORD_MISSING_KEYS = f"""
INSERT INTO signal_keys ({_KEY_NAMES}, signal_id, received_at)
SELECT {", ".join(_KEY_COLUMNS)}, {_BOUNDED_KEY}, id, received_at
  FROM signals
 WHERE panel_time IS NOT NULL AND received_at > now() - interval '1 hour'
 ORDER BY {", ".join(str(n) for n in range(1, len(_KEY_COLUMNS) + len(_KEY_BOUNDED) + 1))}
    ON CONFLICT DO NOTHING
"""


async def check_schema(connection: asyncpg.Connection) -> None:
    """Refuse a database whose signals are not yet partitioned with their keys apart (sql/0023-0025): this
    writer's statement needs both, and an older schema would store retransmissions twice or not at all. Refuse a
    sequence behind the highest signal id too. Then record the keys of the last hour's signals stored without one."""
    if not await connection.fetchval(_SCHEMA_READY):
        raise RuntimeError("signals is not partitioned, its keys in signal_keys (sql/0025): run `alarmhub migrate`")
    ids = await connection.fetchrow(_IDS)
    if ids is not None and ids["newest"] is not None and ids["newest"] >= ids["next_id"]:
        raise RuntimeError(
            f"signals_id_seq would give {ids['next_id']}, not above the highest signal id {ids['newest']} (after a "
            "restore?): run `alarmhub admin after-restore`"
        )
    await connection.execute(_RECORD_MISSING_KEYS)


# A batch that takes longer than this is abandoned (not acknowledged; the panel retransmits and the retry is
# stored once): without it a half-open connection would hang the writer until the kernel gives up (~15 min).
COMMAND_TIMEOUT = 30.0


# How often a batch rolled back as a deadlock is sent again before the writer gives up on its connection.
DEADLOCK_RETRIES = 5


async def _insert(connection: asyncpg.Connection, rows: Sequence[str]) -> None:
    """Store the rows (encoded by signal_rows) and announce them, in one autocommitted statement."""
    await _send(connection, INSERT_BATCH_NEW, INSERT_BATCH_AGAIN, (rows,))


async def _insert_untimed(connection: asyncpg.Connection, batch: Sequence[_Submission], window: float) -> int:
    """Store a batch holding untimed messages, each unless it repeats its transmitter's last one within
    ``window`` seconds; the number of rows sent. At most one untimed message per transmitter (_take_batch)."""
    rows: list[str] = []
    messages: list[int] = []
    untimed: list[Untimed] = []
    for submission in batch:
        if submission.untimed is None:
            number = 0
        else:
            untimed.append(submission.untimed)
            number = len(untimed)
        rows += submission.rows
        messages += [number] * len(submission.rows)
    columns = [list(column) for column in zip(*untimed, strict=True)]
    arguments = (rows, messages, *columns, window)
    await _send(connection, INSERT_UNTIMED_NEW, INSERT_UNTIMED_AGAIN, arguments)
    return len(rows)


async def _send(connection: asyncpg.Connection, first: str, again: str, arguments: Sequence[object]) -> None:
    """Send ``first``; should the batch hold a retransmission of a timed message (or deadlock), send ``again``:
    the same statement with ON CONFLICT DO NOTHING on the idempotency key."""
    try:
        await connection.fetchrow(first, *arguments)
        return
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != IDEMPOTENCY_KEY:
            raise
    except asyncpg.DeadlockDetectedError:
        pass
    # The batch holds a retransmission (stored already, or being stored by another writer: two batches holding
    # the same keys in opposite order deadlock, and PostgreSQL rolls one back). Store the others, that one once.
    # ON CONFLICT does not stop a second deadlock with the same writer (each waits for the other's uncommitted
    # key), so a rolled-back attempt is sent again; every attempt lets the other writer's batch commit.
    for attempt in range(DEADLOCK_RETRIES):
        try:
            await connection.fetchrow(again, *arguments)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == DEADLOCK_RETRIES - 1:
                raise
            rows = len(arguments[0])  # type: ignore[arg-type]
            log.warning("batch rolled back as a deadlock; sending it again", attempt=attempt + 1, rows=rows)


# What PostgreSQL says of a row it will not take however often it is sent (a value out of range, a check
# constraint): the batch is then written one message at a time, so that the other messages in it are stored and
# answered. (Not "program limit exceeded": a full NOTIFY queue says that of every statement, and the index key
# reads a bounded part of every field, so no row the receiver builds is too big for it.)
ROW_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


def _no_partition(error: Exception) -> bool:
    """Whether PostgreSQL refused rows because their month has no partition of signals (sql/0025; the worker's
    signal-partitions job creates them ahead)."""
    return isinstance(error, asyncpg.CheckViolationError) and "no partition of relation" in str(error)


# Untimed messages a batch sets aside for the next one (a second message of a transmitter it holds) before it ends.
MAX_DEFERRED = 64


class StorageUnavailable(Exception):
    """The database cannot take signals now; the frame is not acknowledged and the panel will retransmit."""


Settled = Callable[[Exception | None], None]  # told None once the rows have committed, else why not


class _Submission:
    """Rows from one message and whom to tell, once, when they have committed or cannot be; ``untimed`` for a
    plain message without a timestamp (None: the idempotency index decides, as for every timed message)."""

    __slots__ = ("on_settled", "rows", "settled", "untimed")

    def __init__(self, rows: Sequence[str], on_settled: Settled, untimed: Untimed | None = None) -> None:
        self.rows = rows
        self.on_settled = on_settled
        self.settled = False
        self.untimed = untimed


def _resolve_future(future: asyncio.Future[None], error: Exception | None) -> None:
    if not future.done():
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _call_all(callbacks: list[Settled], error: Exception | None) -> None:
    for callback in callbacks:
        try:
            callback(error)
        except Exception:  # one faulty listener must not leave the others without their answer
            log.exception("a stored-signal callback failed")


class BatchWriter:
    """Collects rows from all connections; `writers` connections commit batches in turn.

    ``retransmission_window``: seconds within which an untimed message that repeats its transmitter's last one is
    merged into it (``receiver.retransmission_window``); 0 merges none, and untimed messages are then written like
    timed ones.
    """

    def __init__(
        self,
        database_url: str,
        *,
        max_batch_rows: int = 2000,
        max_pending_rows: int = 100_000,
        writers: int = 1,
        retransmission_window: float = 0.0,
    ) -> None:
        self._database_url = database_url
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._writers = writers
        self.retransmission_window = retransmission_window
        self._pending: list[_Submission] = []
        self._pending_rows = 0
        self._untimed_pending = 0  # untimed submissions in _pending: while 0, batches are taken as they always were
        # A transmitter's untimed messages wait one at a time in _pending: the next ones are parked here, in order,
        # and the next is queued when the one before is taken into a batch. So one panel sending thousands of
        # untimed frames at once never holds other panels' frames back (each batch takes one of its messages).
        self._untimed_queued: set[tuple[str, str, str]] = set()  # transmitters with an untimed message in _pending
        self._parked: dict[tuple[str, str, str], collections.deque[_Submission]] = {}
        self._wakeup = asyncio.Event()
        self._connected = 0
        self._loop = asyncio.get_running_loop()

    @property
    def available(self) -> bool:
        return self._connected > 0

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def submit(self, rows: Sequence[str]) -> asyncio.Future[None]:
        """Queue encoded rows (signal_rows); the future resolves after they commit, or fails with
        StorageUnavailable."""
        future: asyncio.Future[None] = self._loop.create_future()
        self.submit_then(rows, functools.partial(_resolve_future, future))
        return future

    def submit_then(self, rows: Sequence[str], on_settled: Settled, untimed: Untimed | None = None) -> None:
        """Queue encoded rows; ``on_settled(None)`` once they have committed, ``on_settled(StorageUnavailable)``
        when they cannot be. Called once, from the event loop, never from inside this call. The callbacks of a
        batch run together from one loop callback, after the writer has sent its next batch: cheaper per frame
        than a future, and the database is never kept waiting while answers are written.

        ``untimed`` describes a plain message without a timestamp: its rows are stored unless it repeats its
        transmitter's last such message within the window (and the callback is told None either way: a merged
        retransmission is acknowledged like any other)."""
        if untimed is not None and self.retransmission_window <= 0:
            untimed = None
        submission = _Submission(rows, on_settled, untimed)
        if not self.available:
            self._settle([submission], StorageUnavailable("database unavailable"))
        elif self._pending_rows + len(rows) > self._max_pending_rows:
            self._settle([submission], StorageUnavailable("too many signals waiting for the database"))
        else:
            self._pending_rows += len(rows)
            if untimed is not None:
                transmitter = (untimed.account, untimed.receiver, untimed.line)
                if transmitter in self._untimed_queued:
                    self._parked.setdefault(transmitter, collections.deque()).append(submission)
                    return
                self._untimed_queued.add(transmitter)
                self._untimed_pending += 1
            self._pending.append(submission)
            self._wakeup.set()

    def _settle(self, submissions: list[_Submission], error: Exception | None) -> None:
        callbacks = []
        for submission in submissions:
            if not submission.settled:
                submission.settled = True
                callbacks.append(submission.on_settled)
        if callbacks:
            self._loop.call_soon(_call_all, callbacks, error)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run the writer connections until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for number in range(self._writers):
                tasks.create_task(self._writer(number, ready))

    def _take_batch(self) -> tuple[list[_Submission], bool]:
        """The next batch, and whether it holds an untimed message."""
        untimed = 0
        if self._untimed_pending:
            batch, rows, untimed = self._take_one_per_transmitter()
            self._untimed_pending -= untimed
        else:
            taken, rows = 0, 0
            for submission in self._pending:
                if rows and rows + len(submission.rows) > self._max_batch_rows:
                    break
                rows += len(submission.rows)
                taken += 1
            batch, self._pending = self._pending[:taken], self._pending[taken:]
        self._pending_rows -= rows
        metrics.PENDING.set(self._pending_rows)  # once per batch: the queue depth a scrape sees
        if not self._pending:
            self._wakeup.clear()
        return batch, untimed > 0

    def _take_one_per_transmitter(self) -> tuple[list[_Submission], int, int]:
        """(batch, its rows, its untimed messages) while untimed messages wait: one untimed message per transmitter
        (one upsert cannot touch a row twice, and the first must be the "last" the second is compared with). The
        queue holds one per transmitter anyway (submit_then parks the rest); each transmitter taken queues its next
        parked message for a later batch. Should the queue hold a second one, it stays first for the next batch,
        and after MAX_DEFERRED such the batch ends, so no scan is unbounded."""
        pending, limit = self._pending, self._max_batch_rows
        batch: list[_Submission] = []
        deferred: list[_Submission] = []
        transmitters: set[tuple[str, str, str]] = set()
        rows, position = 0, 0
        while position < len(pending) and len(deferred) < MAX_DEFERRED:
            submission = pending[position]
            if rows and rows + len(submission.rows) > limit:
                break
            position += 1
            untimed = submission.untimed
            if untimed is not None:
                transmitter = (untimed.account, untimed.receiver, untimed.line)
                if transmitter in transmitters:
                    deferred.append(submission)
                    continue
                transmitters.add(transmitter)
            batch.append(submission)
            rows += len(submission.rows)
        self._pending = deferred + pending[position:] if deferred else pending[position:]
        for transmitter in transmitters:  # each one's next message, if any, waits in the queue for a later batch
            self._untimed_queued.discard(transmitter)
            parked = self._parked.get(transmitter)
            if parked:
                self._pending.insert(0, parked.popleft())  # first in the next batch, as it was before it was parked
                self._untimed_queued.add(transmitter)
                self._untimed_pending += 1
                if not parked:
                    del self._parked[transmitter]
        return batch, rows, len(transmitters)

    async def _writer(self, number: int, ready: asyncio.Event | None) -> None:
        backoff = 0.2
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._database_url, command_timeout=COMMAND_TIMEOUT)
                await check_schema(connection)
                # Not connection.prepare(): asyncpg ends a prepare with Flush, not Sync, so an idle writer would
                # hold RowExclusiveLock on signals and block every migration until its next batch. fetchrow()
                # prepares through the statement cache and syncs in the same round trip.
                self._connected += 1
                backoff = 0.2
                if ready is not None:
                    ready.set()
                log.info("batch writer connected", writer=number)
                try:
                    while True:
                        await self._wakeup.wait()
                        batch, untimed = self._take_batch()
                        if batch:
                            await self._write(connection, batch, untimed)
                finally:
                    self._connected -= 1
                    if not self.available:
                        self._fail_pending("database unavailable")
            except Exception as error:  # any database or driver failure: reconnect, never let the task die
                log.warning("batch writer lost the database", writer=number, error=str(error), retry_in=backoff)
                await aio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)

    async def _write(
        self,
        connection: asyncpg.Connection,
        batch: list[_Submission],
        untimed: bool = False,
    ) -> None:
        """Commit the batch and resolve every submission in it — stored, refused or failed — whatever happens.
        ``untimed``: the batch holds an untimed message (one at most per transmitter)."""
        try:
            try:
                if untimed:
                    rows = await _insert_untimed(connection, batch, self.retransmission_window)
                else:
                    timed = [row for submission in batch for row in submission.rows]
                    rows = len(timed)
                    await _insert(connection, timed)
            except ROW_REFUSED as error:
                if _no_partition(error):  # every row of that month would be refused alike: fail the batch once
                    log.error("signals refused: no partition for their month", error=str(error), submissions=len(batch))
                    self._settle(batch, StorageUnavailable(f"refused by the database: {error}"))
                    return
                # One bad row must not keep the others from being stored: write them one message at a time.
                log.error("batch refused by the database; isolating", error=str(error), submissions=len(batch))
                for submission in batch:
                    await self._write_alone(connection, submission)
                return
            metrics.BATCH_ROWS.observe(rows)
            self._settle(batch, None)
        except BaseException as error:
            # The connection failed (or the task was cancelled) mid-batch: whatever is not settled yet is not
            # stored, so it must not wait for an answer forever (a TCP connection answers in order behind it).
            self._settle(batch, StorageUnavailable(str(error) or type(error).__name__))
            raise

    async def _write_alone(self, connection: asyncpg.Connection, submission: _Submission) -> None:
        try:
            if submission.untimed is not None:
                await _insert_untimed(connection, [submission], self.retransmission_window)
            else:
                await _insert(connection, submission.rows)
        except ROW_REFUSED as error:
            log.error("signal refused by the database", error=str(error))
            self._settle([submission], StorageUnavailable(f"refused by the database: {error}"))
        else:
            self._settle([submission], None)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending, self._pending_rows, self._untimed_pending = self._pending, [], 0, 0
        for parked in self._parked.values():
            pending.extend(parked)
        self._parked.clear()
        self._untimed_queued.clear()
        self._wakeup.clear()
        self._settle(pending, StorageUnavailable(reason))

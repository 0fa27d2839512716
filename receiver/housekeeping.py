"""The receiver's low-volume writes, flushed in bulk: rejected frames (bounded table), and each panel's last-seen
time (any traffic) and last-signal time (after its signals committed); and the purge of untimed transmissions
older than the retransmission window."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from datetime import UTC, datetime

import asyncpg

from receiver import metrics
from receiver.accounts import PanelInfo
from receiver.dc09 import Rejection
from shared import aio
from shared.db import Connection
from shared.logs import get_logger

log = get_logger(__name__)

FIRST_BYTES_KEPT = 256
_INSERT_REJECTED = """
INSERT INTO rejected_frames (received_at, transport, remote_addr, reason, detail, account, first_bytes)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
"""
_TRIM_REJECTED = "DELETE FROM rejected_frames WHERE id <= (SELECT max(id) FROM rejected_frames) - $1"
# Lock the sites whose signals are being recorded (sorted, so two receivers take them in one order) until the
# panels are written: a site being handed to another customer is waited for, and one handed over before is seen
# as it is now. Without the lock, an UPDATE that met a panel row just reset by the handover's trigger would
# re-check that row but join the site as its snapshot had it, and show the old customer's signal to the new one.
_LOCK_SITES = "SELECT 1 FROM sites WHERE id = ANY($1::bigint[]) ORDER BY id FOR SHARE"
# One row version per panel and flush: any traffic moves last_seen_at; committed signals move last_signal_at,
# but only while the panel is still on the site, and the site with the customer, they were stored for.
_UPDATE_PANELS = """
UPDATE panels p
   SET last_seen_at = greatest(p.last_seen_at, t.seen),
       last_signal_at = CASE
           WHEN t.signalled IS NOT NULL AND p.site_id = t.site_id
                AND (SELECT s.customer_id FROM sites s WHERE s.id = p.site_id) = t.customer_id
           THEN greatest(p.last_signal_at, t.signalled)
           ELSE p.last_signal_at END
  FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[])
       AS t(id, seen, signalled, site_id, customer_id)
 WHERE p.id = t.id
"""

# The last untimed message of each transmitter (sql/0019_untimed_retransmission.sql) is needed only within the
# window: older rows are deleted, at most PURGE_ROWS a round. received_at is the receiver's clock and now() the
# database's, so an hour's margin keeps a receiver whose clock lags from losing its rows early (a retransmission
# would then be stored again); the writer's upsert compares two receiver times and needs no margin. A row the
# batch writer holds is skipped (SKIP LOCKED: the purge never waits for a writer, so the two cannot deadlock) and
# taken in a later round; a row it refreshed meanwhile is no longer old when locked, and stays.
_PURGE_UNTIMED = """
DELETE FROM untimed_transmissions AS t
 USING (SELECT account, receiver, line FROM untimed_transmissions
         WHERE received_at < now() - make_interval(secs => $1::float8) - interval '1 hour'
         LIMIT $2 FOR UPDATE SKIP LOCKED) AS old
 WHERE (t.account, t.receiver, t.line) = (old.account, old.receiver, old.line)
"""
# The idempotency keys of timed signals (sql/0023_signal_keys.sql) are kept for the horizon after their signal was
# received, then deleted oldest first through signal_keys_received, PURGE_ROWS a round. The same hour's margin for a
# receiver whose clock lags. The writer only inserts keys, so nothing here waits for it or it for this.
_PURGE_KEYS = """
DELETE FROM signal_keys
 WHERE ctid = ANY (ARRAY(SELECT ctid FROM signal_keys
                          WHERE received_at < now() - make_interval(secs => $1::float8) - interval '1 hour'
                          ORDER BY received_at LIMIT $2))
"""
PURGE_ROWS = 10_000
# Seconds between purges: the table is about as large as the number of panels that send untimed messages, and
# a stale row only costs room (the writer's upsert compares the time itself). Sooner when a round was full.
PURGE_EVERY = 60.0


# The log says at most this often that rejections went unrecorded (the metric counts every one).
UNRECORDED_LOG_EVERY = 60.0


class Housekeeping:
    """Buffers rejections and link activity in memory (bounded) and writes them every `interval` seconds — sooner
    when half the rejection buffer is taken, so that a burst of bad input is written as it comes. What a flood
    faster than the writes (or a long database outage) pushes out of the full buffer is counted
    (alarmhub_receiver_rejected_frames_unrecorded_total) and logged once a minute: never lost without a word, and
    never able to grow the receiver's memory or make it wait."""

    def __init__(
        self,
        database_url: str,
        *,
        rejected_kept: int,
        interval: float = 1.0,
        buffer_limit: int = 10_000,
        retransmission_window: float = 0.0,
        retransmission_horizon: float = 7 * 86400.0,
    ) -> None:
        self._database_url = database_url
        self._rejected_kept = rejected_kept
        self._interval = interval
        self._retransmission_window = retransmission_window
        self._retransmission_horizon = retransmission_horizon
        self._next_purge = 0.0  # time.monotonic() from which the next purge is due
        self._rejections: deque[tuple[object, ...]] = deque(maxlen=buffer_limit)
        self._early = max(1, buffer_limit // 2)  # rejections waiting that make the next write start at once
        self._wake = asyncio.Event()
        self._unrecorded = 0  # pushed out since the last log line
        self._unrecorded_logged = float("-inf")
        self._last_seen: dict[int, datetime] = {}
        self._last_signal: dict[int, tuple[PanelInfo, datetime]] = {}

    def record_rejection(
        self, transport: str, remote_addr: str, rejection: Rejection, account: str | None = None
    ) -> None:
        metrics.REJECTED.labels(rejection.reason.value).inc()
        waiting = len(self._rejections)
        if waiting >= self._early:
            self._wake.set()
            if waiting == self._rejections.maxlen:  # the append below pushes the oldest out
                self._count_unrecorded(1)
        self._rejections.append(
            (
                datetime.now(UTC),
                transport,
                remote_addr,
                rejection.reason.value,
                rejection.detail[:500],
                account,
                rejection.raw[:FIRST_BYTES_KEPT],
            )
        )

    def _count_unrecorded(self, count: int) -> None:
        metrics.REJECTED_UNRECORDED.inc(count)
        self._unrecorded += count
        now = time.monotonic()
        if now - self._unrecorded_logged >= UNRECORDED_LOG_EVERY:
            log.warning(
                "rejected frames not recorded: more bad input than the rejected_frames table's writes keep up with",
                unrecorded=self._unrecorded,
                buffer=self._rejections.maxlen,
            )
            self._unrecorded_logged, self._unrecorded = now, 0

    def touch(self, panel_id: int, when: datetime) -> None:
        self._last_seen[panel_id] = when

    def signalled(self, panel: PanelInfo, received_at: datetime) -> None:
        """Signals of `panel` received at `received_at` have committed (batches may commit out of order)."""
        known = self._last_signal.get(panel.panel_id)
        if known is None or known[1] <= received_at:
            self._last_signal[panel.panel_id] = (panel, received_at)

    async def run(self) -> None:
        """Flush forever; on database trouble keep the buffers (bounded) and try again."""
        connection: Connection | None = None
        try:
            while True:
                await aio.wait_or_timeout(self._wake.wait(), self._interval)
                self._wake.clear()
                try:
                    if connection is None or connection.is_closed():
                        connection = await asyncpg.connect(self._database_url)
                    await self.flush(connection)
                except Exception as error:  # any database or driver failure: reconnect, never let the task die
                    log.warning("housekeeping write failed; will retry", error=str(error))
                    if connection is not None:
                        connection.terminate()
                    connection = None
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await self.flush(connection)
                    await connection.close(timeout=1)

    async def purge(self, connection: Connection) -> tuple[int, int]:
        """Delete up to PURGE_ROWS untimed transmissions older than the window and as many signal keys older than
        the horizon; how many of each were deleted."""
        self._next_purge = time.monotonic() + PURGE_EVERY  # set first: a failing purge is tried again in a minute
        status = await connection.execute(_PURGE_UNTIMED, self._retransmission_window, PURGE_ROWS)
        untimed = int(status.rsplit(" ", 1)[1])
        status = await connection.execute(_PURGE_KEYS, self._retransmission_horizon, PURGE_ROWS)
        keys = int(status.rsplit(" ", 1)[1])
        if untimed >= PURGE_ROWS or keys >= PURGE_ROWS:
            self._next_purge = 0.0  # more to do: the next round goes on
        return untimed, keys

    async def flush(self, connection: Connection) -> None:
        await self._flush_panels(connection)
        if time.monotonic() >= self._next_purge:  # last: the least urgent
            await self.purge(connection)

    async def _flush_panels(self, connection: Connection) -> None:
        # Take the rejections out of the buffer first; put them back if the insert fails (the buffer may have
        # moved on meanwhile, so counting what to remove afterwards would drop the wrong ones).
        rejections = list(self._rejections)
        self._rejections.clear()
        seen, signalled = dict(self._last_seen), dict(self._last_signal)
        if rejections:
            try:
                async with connection.transaction():
                    await connection.execute(_INSERT_REJECTED, *zip(*rejections, strict=True))
                    await connection.execute(_TRIM_REJECTED, self._rejected_kept)
            except BaseException:
                room = (self._rejections.maxlen or 0) - len(self._rejections)
                if room < len(rejections):  # what arrived meanwhile stays; the oldest of these go
                    self._count_unrecorded(len(rejections) - room)
                    rejections = rejections[len(rejections) - room :] if room > 0 else []
                self._rejections.extendleft(reversed(rejections))
                raise
        if not seen and not signalled:
            return
        panel_ids = sorted(seen.keys() | signalled.keys())
        infos = [signalled.get(panel_id) for panel_id in panel_ids]
        try:
            async with connection.transaction():
                if signalled:
                    await connection.execute(_LOCK_SITES, sorted({info.site_id for info, _ in signalled.values()}))
                await connection.execute(
                    _UPDATE_PANELS,
                    panel_ids,
                    [seen.get(panel_id) for panel_id in panel_ids],
                    [info[1] if info else None for info in infos],
                    [info[0].site_id if info else None for info in infos],
                    [info[0].customer_id if info else None for info in infos],
                )
        except asyncpg.TransactionRollbackError as error:
            # Another receiver wrote some of the same panels in another order (the plan, not the sorted ids,
            # decides the order of row locks): nothing was written, and everything is kept for the next flush.
            log.info("panel times not written this time; kept for the next flush", error=str(error))
            return
        for panel_id, when in seen.items():
            if self._last_seen.get(panel_id) == when:
                del self._last_seen[panel_id]
        for panel_id, entry in signalled.items():
            if self._last_signal.get(panel_id) is entry:
                del self._last_signal[panel_id]

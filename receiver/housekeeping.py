"""The receiver's low-volume writes, flushed in bulk: rejected frames (bounded table), and each panel's last-seen
time (any traffic) and last-signal time (after its signals committed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from datetime import UTC, datetime

import asyncpg

from receiver import metrics
from receiver.accounts import PanelInfo
from receiver.dc09 import Rejection
from shared.logs import get_logger

log = get_logger(__name__)

FIRST_BYTES_KEPT = 256
_INSERT_REJECTED = """
INSERT INTO rejected_frames (received_at, transport, remote_addr, reason, detail, account, first_bytes)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
"""
_TRIM_REJECTED = "DELETE FROM rejected_frames WHERE id <= (SELECT max(id) FROM rejected_frames) - $1"
# Sorted ids: two receivers updating the same panels lock them in the same order and cannot deadlock.
_TOUCH_PANELS = """
UPDATE panels p SET last_seen_at = greatest(p.last_seen_at, t.seen)
  FROM unnest($1::bigint[], $2::timestamptz[]) AS t(id, seen)
 WHERE p.id = t.id
"""
# Only while the panel is still on the site, and the site with the customer, the signals were stored for: a
# signal committed just before a site changed hands must not show on the new customer's dashboard.
_SIGNALLED_PANELS = """
UPDATE panels p SET last_signal_at = greatest(p.last_signal_at, t.at)
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS t(id, site_id, customer_id, at),
       sites s
 WHERE p.id = t.id AND p.site_id = t.site_id AND s.id = p.site_id AND s.customer_id = t.customer_id
"""


class Housekeeping:
    """Buffers rejections and link activity in memory (bounded) and writes them every `interval` seconds."""

    def __init__(
        self, database_url: str, *, rejected_kept: int, interval: float = 1.0, buffer_limit: int = 10_000
    ) -> None:
        self._database_url = database_url
        self._rejected_kept = rejected_kept
        self._interval = interval
        self._rejections: deque[tuple[object, ...]] = deque(maxlen=buffer_limit)
        self._last_seen: dict[int, datetime] = {}
        self._last_signal: dict[int, tuple[PanelInfo, datetime]] = {}

    def record_rejection(
        self, transport: str, remote_addr: str, rejection: Rejection, account: str | None = None
    ) -> None:
        metrics.REJECTED.labels(rejection.reason.value).inc()
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

    def touch(self, panel_id: int, when: datetime) -> None:
        self._last_seen[panel_id] = when

    def signalled(self, panel: PanelInfo, received_at: datetime) -> None:
        """Signals of `panel` received at `received_at` have committed."""
        self._last_signal[panel.panel_id] = (panel, received_at)

    async def run(self) -> None:
        """Flush forever; on database trouble keep the buffers (bounded) and try again."""
        connection: asyncpg.Connection | None = None
        try:
            while True:
                await asyncio.sleep(self._interval)
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

    async def flush(self, connection: asyncpg.Connection) -> None:
        # Take the rejections out of the buffer first; put them back if the insert fails (the buffer may have
        # moved on meanwhile, so counting what to remove afterwards would drop the wrong ones).
        rejections = list(self._rejections)
        self._rejections.clear()
        seen = sorted(self._last_seen.items())
        signalled = sorted(self._last_signal.items(), key=lambda item: item[0])
        if rejections:
            try:
                async with connection.transaction():
                    await connection.execute(_INSERT_REJECTED, *zip(*rejections, strict=True))
                    await connection.execute(_TRIM_REJECTED, self._rejected_kept)
            except BaseException:
                self._rejections.extendleft(reversed(rejections))
                raise
        if seen:
            await connection.execute(_TOUCH_PANELS, [panel for panel, _ in seen], [when for _, when in seen])
            for panel, when in seen:
                if self._last_seen.get(panel) == when:
                    del self._last_seen[panel]
        if signalled:
            panels = [panel for _, (panel, _) in signalled]
            await connection.execute(
                _SIGNALLED_PANELS,
                [panel.panel_id for panel in panels],
                [panel.site_id for panel in panels],
                [panel.customer_id for panel in panels],
                [when for _, (_, when) in signalled],
            )
            for panel_id, entry in signalled:
                if self._last_signal.get(panel_id) is entry:
                    del self._last_signal[panel_id]

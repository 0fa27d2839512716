"""After a logical restore into another PostgreSQL cluster: the signals' transaction ids come from the old server.

shared.signal_cursor follows signals by (xact, id), xact being the writing transaction's id (sql/0012). pg_dump and
pg_restore carry the values over, but a new cluster counts its transactions afresh, below them: the incident opener's
cursor (job_cursors) is then ahead of the server (it refuses it, CursorAhead, and opens no incident), and restored
rows ahead of the counter would be read again, as new, once the counter passes them. Restored into the same cluster
or by point-in-time recovery (which keep the counter), nothing is ahead and this changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Connection

_NOW = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True, slots=True)
class Realigned:
    signals: int  # restored signals whose transaction id was ahead of this server's: now NULL, "before any cursor"
    cursors: int  # followers' cursors (job_cursors) that were ahead: now at this server's present
    ids_from: int | None = None  # where signals_id_seq was moved to when it stood behind the highest id; else None


async def realign_after_restore(connection: Connection) -> Realigned:
    """Forget the transaction ids of signals that are ahead of this server's counter, and move the cursors that are
    ahead to the present (a follower goes on from there, as on its first start). Safe to run again, and on a server
    where nothing is ahead (it then changes nothing); run it before receivers and workers start, as rows that are
    ahead are only told apart from new ones by their ids being ahead of the counter."""
    async with connection.transaction():
        # Each monthly partition of signals has its own primary key (sql/0025): only the sequence keeps ids unique
        # across months, and a data-only restore (or a manual insert) can leave it behind.
        ids_from: int | None = await connection.fetchval(
            "SELECT setval('signals_id_seq', newest) FROM (SELECT max(id) AS newest FROM signals) AS s"
            " WHERE newest >= (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM signals_id_seq)"
        )
        now: int = await connection.fetchval(_NOW)
        signals = await connection.execute("UPDATE signals SET xact = NULL WHERE xact >= $1", now)
        cursors = await connection.execute(
            "UPDATE job_cursors SET xact = $1, id = 0, updated_at = now() WHERE xact >= $1", now
        )
    return Realigned(int(signals.rsplit(" ", 1)[1]), int(cursors.rsplit(" ", 1)[1]), ids_from)

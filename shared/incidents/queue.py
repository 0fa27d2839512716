"""The open-incident queue the dispatchers' console shows: by priority then age, held ones after, unknown apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.incidents.model import IncidentKind

# A console shows this many rows per lane; the counts cover every open incident whatever the limit.
QUEUE_LIMIT = 500

_ENTRIES = """
SELECT i.id, i.kind, i.priority, i.title, i.alarm_type, i.account, i.customer_id, i.site_id,
       i.opened_at, i.last_signal_at, i.signal_count, i.restored_at,
       i.holder_id, coalesce(nullif(u.name, ''), u.email, '') AS holder_name, i.taken_at,
       i.held_until, coalesce(i.held_until > now(), false) AS held,
       coalesce(s.name, '') AS premises_name, coalesce(s.address, '') AS premises_address,
       coalesce(c.name, '') AS customer_name
  FROM incidents i
  LEFT JOIN sites s ON s.id = i.site_id
  LEFT JOIN customers c ON c.id = i.customer_id
  LEFT JOIN users u ON u.id = i.holder_id
 WHERE i.status = 'open' AND (i.kind = 'unknown_account') = $1
 ORDER BY coalesce(i.held_until > now(), false), i.priority, i.opened_at, i.id
 LIMIT $2
"""

# Counts per lane and priority, and when the next hold ends (the queue changes then without any write).
_COUNTS = """
SELECT i.kind = 'unknown_account' AS unknown, i.priority, count(*) AS open,
       count(*) FILTER (WHERE i.held_until > now()) AS held,
       min(i.held_until) FILTER (WHERE i.held_until > now()) AS next_release, now() AS at
  FROM incidents i
 WHERE i.status = 'open'
 GROUP BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One open incident as a queue row: what it is, where, how old, who holds it."""

    id: int
    kind: IncidentKind
    priority: int
    title: str
    alarm_type: str | None
    account: str
    customer_id: int | None
    site_id: int | None
    premises_name: str
    premises_address: str
    customer_name: str
    opened_at: datetime
    last_signal_at: datetime
    signal_count: int
    restored_at: datetime | None
    holder_id: int | None
    holder_name: str
    taken_at: datetime | None
    held_until: datetime | None
    held: bool  # on hold until a later time: shown after the rest


@dataclass(frozen=True, slots=True)
class IncidentQueue:
    """The queue at one moment (`at`, the database's clock: ages are measured from it)."""

    at: datetime
    incidents: list[QueueEntry]  # alarms and failures to communicate: priority, age; held ones last
    unknown: list[QueueEntry]  # the unknown-account lane, in the same order
    counts: Mapping[int, int]  # open incidents of the main lane per priority (held ones included)
    held_count: int
    unknown_count: int
    next_release: datetime | None  # when the earliest hold ends

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _entry(row: asyncpg.Record) -> QueueEntry:
    return QueueEntry(
        id=row["id"],
        kind=IncidentKind(row["kind"]),
        priority=row["priority"],
        title=row["title"],
        alarm_type=row["alarm_type"],
        account=row["account"],
        customer_id=row["customer_id"],
        site_id=row["site_id"],
        premises_name=row["premises_name"],
        premises_address=row["premises_address"],
        customer_name=row["customer_name"],
        opened_at=row["opened_at"],
        last_signal_at=row["last_signal_at"],
        signal_count=row["signal_count"],
        restored_at=row["restored_at"],
        holder_id=row["holder_id"],
        holder_name=row["holder_name"],
        taken_at=row["taken_at"],
        held_until=row["held_until"],
        held=row["held"],
    )


async def open_queue(connection: Connection, limit: int = QUEUE_LIMIT) -> IncidentQueue:
    """The queue, read in one snapshot (a repeatable-read transaction: the rows and the counts agree)."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        counts_rows = await connection.fetch(_COUNTS)
        main = await connection.fetch(_ENTRIES, False, limit)
        unknown = await connection.fetch(_ENTRIES, True, limit)
        at: datetime = counts_rows[0]["at"] if counts_rows else await connection.fetchval("SELECT now()")
    counts: dict[int, int] = {}
    held = unknown_count = 0
    releases = [r["next_release"] for r in counts_rows if r["next_release"] is not None]
    for row in counts_rows:
        if row["unknown"]:
            unknown_count += row["open"]
        else:
            counts[row["priority"]] = counts.get(row["priority"], 0) + row["open"]
            held += row["held"]
    return IncidentQueue(
        at=at,
        incidents=[_entry(r) for r in main],
        unknown=[_entry(r) for r in unknown],
        counts=dict(sorted(counts.items())),
        held_count=held,
        unknown_count=unknown_count,
        next_release=min(releases, default=None),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def entry_json(entry: QueueEntry, at: datetime) -> dict[str, Any]:
    """One queue row as JSON; `age_seconds` measured at `at` (the queue's moment, the database's clock)."""
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "priority": entry.priority,
        "title": entry.title,
        "alarm_type": entry.alarm_type,
        "account": entry.account,
        "customer_id": entry.customer_id,
        "site_id": entry.site_id,
        "premises_name": entry.premises_name,
        "premises_address": entry.premises_address,
        "customer_name": entry.customer_name,
        "opened_at": _iso(entry.opened_at),
        "age_seconds": max(0, int((at - entry.opened_at).total_seconds())),
        "last_signal_at": _iso(entry.last_signal_at),
        "signal_count": entry.signal_count,
        "restored_at": _iso(entry.restored_at),
        "holder_id": entry.holder_id,
        "holder_name": entry.holder_name,
        "taken_at": _iso(entry.taken_at),
        "held_until": _iso(entry.held_until),
        "held": entry.held,
    }


def queue_json(queue: IncidentQueue) -> dict[str, Any]:
    """The queue as the console's JSON message carries it (`type` added by the sender)."""
    return {
        "at": _iso(queue.at),
        "counts": {str(priority): count for priority, count in queue.counts.items()},
        "total": queue.total,
        "held_count": queue.held_count,
        "unknown_count": queue.unknown_count,
        "incidents": [entry_json(e, queue.at) for e in queue.incidents],
        "unknown": [entry_json(e, queue.at) for e in queue.unknown],
    }

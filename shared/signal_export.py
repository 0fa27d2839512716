"""The Signal history as CSV (C11): the filtered range, newest first, read in chunks through a server-side cursor.

The rows are the page's rows (tests compare csv_row of every page line with the export), written straight from
the database records: an export is hundreds of thousands of rows, so nothing per row is built that is not
written. Every cell that a panel, a person or the catalogue could start with a formula character is defused.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from zoneinfo import ZoneInfo

import asyncpg

from shared.catalogue import CATEGORY_LABELS, SignalCategory
from shared.db import Connection
from shared.scope import CustomerScope
from shared.signal_history import HistoryFilter, HistoryLine, premises_of, range_sql

CSV_HEADER = (
    "received",
    "category",
    "event",
    "zone",
    "user",
    "partition",
    "panel",
    "premises",
    "code",
    "restore-of",
)
# Rows fetched from the cursor at a time (and so held in memory at most, with their CSV text).
CHUNK_ROWS = 2000
_FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")  # also their full-width forms
_SPACES = frozenset(" \u00a0\u3000")  # some importers trim these before they look for a formula

# The label by the stored value (csv_row from a HistoryLine must give the same row).
_LABELS = {category.value: label for category, label in CATEGORY_LABELS.items()}
_OTHER_LABEL = CATEGORY_LABELS[SignalCategory.OTHER]


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (also after leading spaces) gets a
    leading apostrophe."""
    first = value[:1]
    if first in _FORMULA_STARTS or (first in _SPACES and value.lstrip(" \u00a0\u3000")[:1] in _FORMULA_STARTS):
        return f"'{value}"
    return value


def csv_row(line: HistoryLine, timezone: ZoneInfo) -> list[str]:
    """One history line as a CSV row (CSV_HEADER's columns), guarded against formula injection."""
    signal = line.signal
    restore_of = ""
    if line.restores is not None:
        restore_of = f"{line.restores.text} at {line.restores.at.astimezone(timezone).isoformat(timespec='seconds')}"
    values = (
        signal.received_at.astimezone(timezone).isoformat(timespec="seconds"),
        signal.category_label,
        signal.text,
        line.zone,
        line.user,
        line.partition,
        signal.account,
        line.premises,
        signal.code,
        restore_of,
    )
    return [_cell(value) for value in values]


def _csv_values(row: asyncpg.Record, premises: Mapping[int, str], timezone: ZoneInfo) -> list[str]:
    """csv_row(_line(row)) without building the page's objects. The time (digits first) and the label (the
    portal's own words) cannot start a formula; every other cell is guarded."""
    restore_of = ""
    if row["restores_id"] is not None:
        restore_of = _cell(
            f"{row['restores_text']} at {row['restores_at'].astimezone(timezone).isoformat(timespec='seconds')}"
        )
    return [
        row["received_at"].astimezone(timezone).isoformat(timespec="seconds"),
        _LABELS.get(row["category"], _OTHER_LABEL),
        _cell(row["description"]),
        _cell(row["zone"] or ""),
        _cell(row["user_number"] or ""),
        _cell(row["partition"] or ""),
        _cell(row["account"]),
        _cell(premises.get(row["site_id"], "")),
        _cell(row["code"]),
        restore_of,
    ]


async def csv_chunks(
    connection: Connection, scope: CustomerScope, wanted: HistoryFilter, *, chunk: int = CHUNK_ROWS
) -> AsyncGenerator[list[list[str]], None]:
    """Every signal of the filtered range, newest first, as lists of at most `chunk` CSV rows — read through a
    server-side cursor in a transaction, so that memory holds one chunk however long the range. `connection`: from
    a shared.signal_history.history_pool, as for the pages."""
    premises = {p.id: p.name for p in await premises_of(connection, scope)}
    sql, values = range_sql(scope, wanted)
    timezone = wanted.timezone
    async with connection.transaction(readonly=True):  # a server-side cursor lives in a transaction
        cursor = await connection.cursor(sql, *values)
        while True:
            records = await cursor.fetch(chunk)
            if not records:
                return
            yield [_csv_values(record, premises, timezone) for record in records]
            if len(records) < chunk:
                return


async def csv_rows(
    connection: Connection, scope: CustomerScope, wanted: HistoryFilter, *, chunk: int = CHUNK_ROWS
) -> AsyncGenerator[list[str], None]:
    """csv_chunks, one row at a time."""
    async for rows in csv_chunks(connection, scope, wanted, chunk=chunk):
        for row in rows:
            yield row

"""What the soak finds stored: every acknowledged frame once, one row per MQTT message, no frame twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import asyncpg

from bench.fuzz import Check
from receiver.simulator.client import Tally
from receiver.simulator.traffic import VirtualPanel


async def stored_copies(database_url: str) -> Counter[bytes]:
    """Every raw frame (or MQTT payload) in signals, with its number of rows."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT raw_frame, count(*) AS copies FROM signals GROUP BY raw_frame")
    finally:
        await connection.close()
    return Counter({bytes(row["raw_frame"]): row["copies"] for row in rows})


def stored_once_check(transport: str, tally: Tally, stored: Counter[bytes]) -> Check:
    """Every frame the panels saw acknowledged is stored, and none twice."""
    acked = set(tally.acked_frames)
    missing = [frame for frame in acked if frame not in stored]
    twice = [frame for frame in acked if stored[frame] > 1]
    figures = f"{len(acked):,} acknowledged, {len(missing):,} missing, {len(twice):,} stored twice"
    if missing:
        figures += f" (first missing: {missing[0][:80]!r})"
    return f"{transport}: every acknowledged frame stored once", not missing and not twice, figures


async def message_rows(database_url: str, panels: Sequence[VirtualPanel]) -> tuple[int, int, int]:
    """(rows, distinct messages, rows that came over MQTT) of these panels' accounts, as
    tests/receiver/test_mqtt_faults.py counts: a message is its account, sequence and panel time."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*), count(DISTINCT (account, sequence, panel_time)),"
            " count(*) FILTER (WHERE transport = 'mqtt') FROM signals WHERE account = ANY($1)",
            [panel.account for panel in panels],
        )
    finally:
        await connection.close()
    assert row is not None
    return row[0], row[1], row[2]


def rows_check(rows: tuple[int, int, int]) -> Check:
    stored, distinct, mqtt = rows
    return "MQTT: one row per message", stored == distinct == mqtt, f"{stored:,} rows, {distinct:,} messages"


def duplicates_check(stored: Counter[bytes]) -> Check:
    twice = sum(1 for copies in stored.values() if copies > 1)
    return "no frame stored twice (all signals)", twice == 0, f"{sum(stored.values()):,} rows, {twice:,} repeated"

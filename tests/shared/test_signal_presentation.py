"""One presentation of a signal: the catalogue's text as decoded, nothing appended; zone, user and area named."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from shared.catalogue import SignalCategory, category_label, classify, present
from shared.scope import CustomerScope
from shared.signal_queries import recent_signals

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _row(format: str, code: str, qualifier: str, **fields: str | None) -> dict[str, object]:
    meaning = classify(format, code, {"event": "1", "restore": "3"}[qualifier] if format == "ADM-CID" else None)
    return {
        "id": 1,
        "received_at": NOW,
        "account": "1234",
        "category": meaning.category.value,
        "qualifier": meaning.qualifier.value,
        "description": meaning.text,
        "code": code,
        "zone": fields.get("zone"),
        "partition": fields.get("partition"),
        "user_number": fields.get("user_number"),
    }


def test_a_contact_id_closing_reads_as_a_closing_not_as_a_restore() -> None:
    line = present(_row("ADM-CID", "401", "restore", user_number="003", partition="1"))
    assert line.text == "Closing by user" and not line.is_restore
    assert line.who == "User 003" and line.area == "Area 1"
    assert line.category is SignalCategory.OPEN_CLOSE and line.category_label == "Openings and closings"


def test_a_burglary_restore_says_restored_once() -> None:
    line = present(_row("ADM-CID", "130", "restore", zone="015"))
    assert line.text == "Burglary alarm restored" and line.is_restore
    assert "restored" not in line.text.replace("restored", "", 1)
    assert line.who == "Zone 015"


def test_an_unknown_category_is_other() -> None:
    assert category_label("no-such-category") == "Other"


async def test_pages_read_signals_through_the_scope(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        for customer_id, code in ((1, "130"), (2, "401")):
            await connection.execute(
                "INSERT INTO signals (account, customer_id, transport, sequence, format, code, qualifier, zone, "
                "user_number, category, priority, description, raw_frame) "
                "VALUES ('1234', $1, 'tcp', $2, 'ADM-CID', $3, 'event', '001', '007', 'alarm', 2, 'x', '\\x00')",
                customer_id,
                f"{customer_id:04d}",
                code,
            )
        lines = await recent_signals(connection, CustomerScope(customer_id=1, user_id=None), 10)
    assert [line.code for line in lines] == ["130"]
    assert lines[0].who == "Zone 001, user 007"

"""The secrets scan itself: it must find what it looks for, or the billing suite's promise is checked by nothing."""

from __future__ import annotations

import asyncpg
from fpdf import FPDF

from shared.logs import get_logger
from tests.secrets_scan import database_findings, debug_json_logs, log_findings


def test_the_scan_finds_a_card_number_and_a_named_code_in_the_logs() -> None:
    with debug_json_logs() as stream:
        get_logger("tests.scan").debug("form", note="paid with 4242 4242 4242 4242")
        get_logger("tests.scan").info("form", cvc="123")
    found = log_findings(stream.getvalue())
    assert any("4242" in f for f in found)
    # The redaction may have masked the named code already; either way nothing readable is left to find.
    assert '"123"' not in stream.getvalue() or any("cvc" in f for f in found)


def test_nothing_is_found_in_clean_logs() -> None:
    with debug_json_logs() as stream:
        get_logger("tests.scan").info("payment settled", last4="4242", amount="25.00")
    assert log_findings(stream.getvalue()) == []


async def test_the_scan_finds_numbers_in_text_bytea_and_pdf_attachments(database_url: str) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Account 000123456789")
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("INSERT INTO customers (name, phone) VALUES ('Leaky', '5555-5555-5555-4444')")
        await connection.execute(
            "INSERT INTO outbox (recipient, subject, body) VALUES ('a@example.com', 'Receipt', 'ok') "
        )
        outbox_id = await connection.fetchval("SELECT max(id) FROM outbox")
        await connection.execute(
            "INSERT INTO outbox_attachments (outbox_id, position, filename, content_type, size, content) "
            "VALUES ($1, 0, 'r.pdf', 'application/pdf', 1, $2)",
            outbox_id,
            bytes(pdf.output()),
        )
        await connection.execute(
            "INSERT INTO rejected_frames (transport, reason, first_bytes) VALUES ('tcp', 'malformed', $1)",
            b"4000000000000002",
        )
    finally:
        await connection.close()
    found = "\n".join(await database_findings(database_url))
    assert "table customers: 5555" in found
    assert "attachment r.pdf: 0001" in found
    assert "table rejected_frames: 4000" in found

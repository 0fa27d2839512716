"""The secrets scans themselves: they must find what they look for, or the promises they check are checked by
nothing. This module also switches the whole session's scan on (tests/secrets_scan.py) and ends the session with
its verdict."""

from __future__ import annotations

import base64

import asyncpg
from fpdf import FPDF

import portal.auth.sessions
import tests.secrets_scan
from shared.logs import get_logger
from tests.portal.conftest import PASSWORD
from tests.secrets_scan import (
    FINAL_TEST,
    SCAN,
    as_production_logs,
    database_findings,
    debug_json_logs,
    log_findings,
    session_database_findings,
)

pytest_plugins = ["tests.secrets_scan"]


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


async def test_the_session_scan_finds_each_kind_of_secret_in_any_table_but_a_key_in_its_own_column(
    database_url: str,
) -> None:
    session_token = portal.auth.sessions.secrets.token_urlsafe(32)  # as start_session makes one: recorded
    assert session_token in SCAN.tokens
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    connection = await asyncpg.connect(database_url)
    try:
        customer = await connection.fetchval("INSERT INTO customers (name) VALUES ('Plain') RETURNING id")
        site = await connection.fetchval(
            "INSERT INTO sites (customer_id, name, address) VALUES ($1, 'Home', 'Street') RETURNING id", customer
        )
        await connection.execute(  # the key at home: not a finding
            "INSERT INTO panels (site_id, account, dc09_key, dc09_key_format) VALUES ($1, 'C0FFEE', $2, 'hex')",
            site,
            key,
        )
        clean = "\n".join(await session_database_findings(database_url))
        assert clean == "", clean
        await connection.execute("UPDATE customers SET phone = $1 WHERE id = $2", PASSWORD, customer)
        await connection.execute("UPDATE sites SET address = $1 WHERE id = $2", base64.b64encode(key).decode(), site)
        await connection.execute(
            "INSERT INTO rejected_frames (transport, reason, first_bytes) VALUES ('tcp', 'malformed', $1)", key
        )
        await connection.execute(
            "INSERT INTO outbox (recipient, subject, body) VALUES ('a@example.com', $1, $2)",
            f"session {session_token}",
            "your token ahk_" + "A" * 43 + ", your code 9187",
        )
    finally:
        await connection.close()
    found = "\n".join(await session_database_findings(database_url))
    for expected in (
        "table customers: password corr",
        "table sites: DC-09 key 001122",
        "table rejected_frames: DC-09 key 001122",
        "table outbox: a session or CSRF token",
        "table outbox: API token",
        "table outbox: security code 9187",
    ):
        assert expected in found, (expected, found)
    assert "table panels" not in found


def test_the_session_scan_reads_logs_as_production_writes_them() -> None:
    token = "ahk_" + "b" * 43
    named = f'login failed password=\'{PASSWORD}\' email=a@example.com\n{{"api_token": "{token}"}}\n'
    named += f"request headers={{'Authorization': 'Bearer {token}', 'Accept': '*/*'}} status=401"
    shown = as_production_logs(named)
    assert PASSWORD not in shown and token not in shown, shown  # redacted by name, as shared/logs.py does
    assert "email=a@example.com" in shown and "'Accept': '*/*'" in shown and "status=401" in shown
    assert SCAN.search(shown, "log", code=True) == []
    leaked = as_production_logs(f"user typed {PASSWORD} into the name field, then {token}")
    assert SCAN.search(leaked, "log", code=True) == ["log: password corr…", "log: API token"]


def test_the_sessions_verdict_is_put_after_every_other_test() -> None:
    class Item:
        def __init__(self, name: str) -> None:
            self.name = name

    items = [Item("test_a"), Item(FINAL_TEST), Item("test_b")]
    tests.secrets_scan.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["test_a", "test_b", FINAL_TEST]


def test_no_secret_reached_a_table_a_log_or_a_mail_anywhere_in_the_session() -> None:
    """The session's verdict (run last, whatever the order of collection): no test's database, mail or captured
    output held a card or bank number, a card security code, a password, a DC-09 key outside its column, an API
    token or a session or CSRF token."""
    findings = list(SCAN.findings)
    assert not findings, (
        f"secrets found ({SCAN.databases} databases and {SCAN.outputs} captured outputs scanned):\n  "
        + "\n  ".join(findings)
    )

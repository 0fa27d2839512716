"""The billing suite's secrets scan: after each billing test, its database (every table, the outbox and the text of
its PDF attachments) and every log line it wrote at debug level are searched for card numbers, bank account numbers
and security codes. A find fails the test that leaked, naming where."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import structlog

from shared.logs import configure_logging

# Every number the sandbox knows (SPEC §3) and the ones tests type to see them refused: full card numbers and bank
# account numbers. The last four digits, a brand and an expiry may be stored; these never.
CARD_NUMBERS = (
    "4242424242424242",
    "5555555555554444",
    "4000000000000002",
    "4000000000009995",
    "4000000000000119",
    "4000000000003220",
    "378282246310005",  # American Express (refused by the sandbox: not a test number it knows)
    "6011111111111117",  # Discover (likewise)
    "4111111111111111",  # the classic test Visa (likewise)
)
BANK_ACCOUNT_NUMBERS = ("000123456789", "000111111116")
# The security code the billing tests type (tests/portal/test_billing_secrets.py uses it on purpose): a whole word
# nowhere else. Other codes tests type are caught where their name says what they are (log keys, columns).
SECURITY_CODE = "9187"
_SECRET_NAMES = re.compile(r"(card_?number|security_?code|cvc|cvv|account_?number)", re.IGNORECASE)


def _spellings(number: str) -> list[str]:
    """The number as digits, grouped by fours with spaces or dashes, and as the hex of its ASCII bytes (bytea)."""
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return [number, " ".join(groups), "-".join(groups), number.encode().hex()]


NUMBERS = [(n, re.compile(re.escape(s))) for n in (*CARD_NUMBERS, *BANK_ACCOUNT_NUMBERS) for s in _spellings(n)]
# The code as a whole word: searched in logs, mail and PDFs. In tables, a big test's row ids reach 9187, so there
# the columns' names are checked instead (no column may be named for a code).
CODE = [(SECURITY_CODE, re.compile(rf"(?<![0-9A-Za-z]){SECURITY_CODE}(?![0-9A-Za-z])"))]


def findings_in(text: str, where: str, *, code: bool = True) -> list[str]:
    needles = NUMBERS + CODE if code else NUMBERS
    return [f"{where}: {secret[:4]}… ({pattern.pattern[:30]})" for secret, pattern in needles if pattern.search(text)]


def log_findings(text: str) -> list[str]:
    """Log lines holding a secret, or a key named like one whose value is not redacted."""
    found = findings_in(text, "log")
    for line in text.splitlines():
        for match in re.finditer(r'"([^"]+)":\s*"([^"]*)"', line):
            key, value = match.groups()
            if _SECRET_NAMES.search(key) and value and "redacted" not in value.lower() and key != "security_code_set":
                found.append(f"log: key {key!r} carries a value: {line[:160]}")
    return found


async def database_findings(url: str) -> list[str]:
    """Every table's rows as text, the columns' names, and the text of PDF attachments in the outbox."""
    connection = await asyncpg.connect(url)
    try:
        found: list[str] = []
        tables = await connection.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
        )
        for (table,) in tables:
            rows = await connection.fetch(f'SELECT t::text AS row FROM "{table}" t')
            mail = table.startswith("outbox")
            for row in rows:
                found += findings_in(row["row"], f"table {table}", code=mail)
        columns = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
        for column in columns:
            name = column["column_name"]
            # customers.security_code is the registration passcode on the customer's paperwork, not a card's code.
            if _SECRET_NAMES.search(name) and (column["table_name"], name) != ("customers", "security_code"):
                found.append(f"column {column['table_name']}.{name} is named for a secret")
        attachments = await connection.fetch(
            "SELECT filename, content FROM outbox_attachments WHERE content_type = 'application/pdf'"
        )
        for attachment in attachments:
            found += findings_in(_pdf_text(attachment["content"]), f"attachment {attachment['filename']}")
        return found
    finally:
        await connection.close()


def _pdf_text(content: bytes) -> str:
    if not content:
        return ""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


@contextmanager
def debug_json_logs() -> Iterator[io.StringIO]:
    """Everything logged, at debug level, as production renders it (redaction included), into a buffer; the root
    logger's handlers (pytest's own included) keep working beside it and are put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog_config = structlog.get_config()
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    # No logger may keep this configuration after the test: a later test that reads its logs from stdout would not
    # find them.
    structlog.configure(cache_logger_on_first_use=False)
    root.handlers.extend(handler for handler in handlers if handler not in root.handlers)
    try:
        yield stream
    finally:
        structlog.configure(**structlog_config)
        root.handlers[:] = handlers
        root.setLevel(level)

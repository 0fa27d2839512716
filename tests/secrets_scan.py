"""The secrets scans.

The billing suite's: after each billing test, its database (every table, the outbox and the text of its PDF
attachments) and every log line it wrote at debug level are searched for card numbers, bank account numbers and
security codes. A find fails the test that leaked, naming where.

The whole session's (a pytest plugin, below): every test's database before it is dropped (every table, the outbox
and its PDFs) and every test's captured output (its logs as production would write them), searched for the card and
bank numbers, the passwords, DC-09 keys (outside their column) and API tokens the tests use, the session and CSRF
tokens the portal made during the test, and in mail the card security code; the findings, named by test, fail the
session's last test.

PYTEST_DONT_REWRITE: tests import this module before pytest registers it as a plugin, and it asserts nothing."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
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
    """The text of a PDF attachment; for bytes that are no readable PDF (a test's stand-in), the bytes as text."""
    if not content:
        return ""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)
    except (PyPdfError, ValueError):
        return content.decode("latin-1")


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


# --- The whole session's scan ---------------------------------------------------------------------------------------
#
# A pytest plugin (tests/test_secrets_scan.py names it in `pytest_plugins`, so it is active whenever that module is
# collected, as in `make test`): before each test's database is dropped, one query looks for every known secret in
# every table (the outbox included); each test's captured output (its logs as the tests render them) is searched
# too; the findings, named by test, fail the module's last test, which runs after every other test of the session.

# Passwords the tests type (the published demo password is not a secret: `make run` prints it).
NEW_PASSWORD = "a different long secret"  # tests/portal/test_accounts.py
# DC-09 keys the tests enrol, as typed (hex or ASCII). Their home is panels.dc09_key; anywhere else is a leak.
DC09_KEYS = (
    ("00112233445566778899AABBCCDDEEFF", "hex"),  # tests/portal/test_admin.py, the README's example
    ("000102030405060708090A0B0C0D0E0F", "hex"),  # tests/receiver/conftest.py
    (bytes(range(32)).hex(), "hex"),  # tests/receiver/test_accounts.py
    (bytes(range(100, 132)).hex(), "hex"),  # tests/receiver/dc09/test_tolerance.py
    ("KeyTypedByStaff!", "ascii"),  # tests/shared/test_enrolment.py
)
API_TOKEN = r"ahk_[A-Za-z0-9_-]{43}"  # shared/api_tokens.py: the prefix is there so scanners find a leaked one
# Where a secret lives by design: its own column, skipped by the scan.
HOME_COLUMNS = {"panels": ("dc09_key", "dc09_key_previous")}  # the previous one: while a rotation overlaps
FINAL_TEST = "test_no_secret_reached_a_table_a_log_or_a_mail_anywhere_in_the_session"
# Tests that put secrets in their logs or tables on purpose, to see them redacted or found.
PLANTS_SECRETS = (
    "tests/test_secrets_scan.py",
    "tests/shared/test_logs.py",
    "tests/shared/billing/test_redaction.py",
)


def _binary_spellings(raw: bytes) -> list[str]:
    """Bytes as a bytea's text shows them (hex) and as base64, padded or not, standard or url-safe."""
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    return [raw.hex(), standard, standard.rstrip("="), urlsafe.rstrip("=")]


def _key_spellings(text: str, key_format: str) -> list[str]:
    raw = bytes.fromhex(text) if key_format == "hex" else text.encode()
    return [text, *_binary_spellings(raw)]


def session_needles() -> list[tuple[str, str]]:
    """(what, regular expression) for every secret the session scan looks for, besides this test's tokens."""
    from tests.portal.conftest import PASSWORD

    needles = [(f"card or bank number {number[:4]}…", pattern.pattern) for number, pattern in NUMBERS]
    for password in (PASSWORD, NEW_PASSWORD):
        needles += [
            (f"password {password[:4]}…", re.escape(s)) for s in {password, *_binary_spellings(password.encode())}
        ]
    for key, key_format in DC09_KEYS:
        needles += [(f"DC-09 key {key[:6]}…", re.escape(s)) for s in _key_spellings(key, key_format)]
    needles.append(("API token", API_TOKEN))
    return needles


@dataclass
class SessionScan:
    """What the session's scan found, and how much it looked at (so its last test can tell it looked)."""

    findings: list[str] = field(default_factory=list)
    databases: int = 0
    unscanned: int = 0
    outputs: int = 0
    tokens: set[str] = field(default_factory=set)  # session and CSRF tokens made during the current test
    needles: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)

    def patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        if not self.needles:
            self.needles = [(what, re.compile(pattern, re.IGNORECASE)) for what, pattern in session_needles()]
        tokens = [("a session or CSRF token", re.compile(re.escape(token))) for token in sorted(self.tokens)]
        return self.needles + tokens

    def search(self, text: str, where: str, *, code: bool) -> list[str]:
        found = [f"{where}: {what}" for what, pattern in self.patterns() if pattern.search(text)]
        if code:
            found += [f"{where}: security code {SECURITY_CODE}" for _, pattern in CODE if pattern.search(text)]
        return found


SCAN = SessionScan()


class _RecordingSecrets:
    """portal.auth.sessions's view of the `secrets` module: every token it makes is remembered for the scan."""

    def __getattr__(self, name: str) -> object:
        return getattr(secrets, name)

    @staticmethod
    def token_urlsafe(nbytes: int | None = None) -> str:
        token = secrets.token_urlsafe(nbytes)
        SCAN.tokens.add(token)
        return token


def _plants_secrets(item: pytest.Item) -> bool:
    return item.nodeid.startswith(PLANTS_SECRETS)


def pytest_configure(config: pytest.Config) -> None:
    import portal.auth.sessions

    portal.auth.sessions.secrets = _RecordingSecrets()  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The session's verdict runs after every other test."""
    last = [item for item in items if item.name == FINAL_TEST]
    items[:] = [item for item in items if item.name != FINAL_TEST] + last


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    SCAN.tokens.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Before the fixtures' teardown drops the test's database: scan it."""
    url = getattr(item, "funcargs", {}).get("database_url")
    if isinstance(url, str) and not _plants_secrets(item):
        try:
            with ThreadPoolExecutor(max_workers=1) as thread:
                found = thread.submit(asyncio.run, session_database_findings(url)).result()
        except (OSError, TimeoutError, asyncpg.PostgresError):  # the test took its database or server away
            SCAN.unscanned += 1
        else:
            SCAN.databases += 1
            SCAN.findings += [f"{item.nodeid}: {finding}" for finding in found]
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """After the teardown, the test's captured output of all three phases: what it logged."""
    report: pytest.TestReport = yield
    if call.when == "teardown" and not _plants_secrets(item):
        for name, content in report.sections:
            if name.startswith("Captured"):
                SCAN.outputs += 1
                # Not the security code: in a log, 9187 is as likely an id or a duration (the billing tests, which
                # type it, look for it in their own logs).
                found = SCAN.search(as_production_logs(content), name.lower(), code=False)
                SCAN.findings += [f"{item.nodeid}: {finding}" for finding in found]
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCAN.findings:
        terminalreporter.section("secrets scan")
        for finding in SCAN.findings:
            terminalreporter.write_line(finding)


_LOG_PAIR = re.compile(
    r"""(?P<quote>['"]?)(?P<key>[A-Za-z_][\w-]*)(?P=quote)(?P<sep>=|:\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\]|[^\s,{}\[\]]+)"""
)


def as_production_logs(text: str) -> str:
    """Captured output with every value shown under a secret's name replaced, as production's logging does
    (shared/logs.py redacts by key name; the tests' default rendering does not): `password=…`, `"token": "…"`,
    `{'Authorization': '…'}`. What is left is what production would write."""
    from shared.logs import is_secret_name

    def redact(match: re.Match[str]) -> str:
        named = f"{match['quote']}{match['key']}{match['quote']}{match['sep']}"
        if is_secret_name(match["key"]):
            return f"{named}[redacted]"
        if match["value"][0] in "{[":  # a dict or a list: its items are redacted by their own names
            return named + as_production_logs(match["value"])
        return match[0]

    return _LOG_PAIR.sub(redact, text)


async def session_database_findings(url: str) -> list[str]:
    """One query over every table (home columns left out) for every needle; the outbox for the security code too;
    then the PDFs attached to mail. Only the rows that match come back to be named."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        tables = await connection.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
        )
        selects = []
        for (table,) in tables:
            skipped = "".join(f" - '{column}'" for column in HOME_COLUMNS.get(table, ()))
            pattern = "$2" if table.startswith("outbox") else "$1"
            selects.append(
                f"SELECT '{table}' AS name, r FROM (SELECT (to_jsonb(t){skipped})::text AS r FROM \"{table}\" t) s "
                f"WHERE r ~* {pattern}"
            )
        # PostgreSQL's regular expressions read these patterns as Python does (escapes, classes, look-arounds).
        any_needle = "|".join(f"({pattern.pattern})" for _, pattern in SCAN.patterns())
        with_code = f"{any_needle}|({CODE[0][1].pattern})"
        query = " UNION ALL ".join(selects)
        arguments = [any_needle, with_code] if "$2" in query else [any_needle]
        rows = await connection.fetch(query, *arguments) if selects else []
        found: list[str] = []
        for row in rows:
            found += SCAN.search(row["r"], f"table {row['name']}", code=row["name"].startswith("outbox"))
        pdfs = await connection.fetch(
            "SELECT filename, content FROM outbox_attachments WHERE content_type = 'application/pdf'"
        )
        for pdf in pdfs:
            found += SCAN.search(_pdf_text(pdf["content"]), f"attachment {pdf['filename']}", code=True)
        return found
    finally:
        await connection.close()

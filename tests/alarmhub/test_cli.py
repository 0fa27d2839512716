"""The command line as a user runs it: admin commands against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import asyncpg

from tests.conftest import REPO


def alarmhub(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALARMHUB_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "alarmhub", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_admin_create_customer_and_user(database_url: str) -> None:
    created = alarmhub(
        database_url,
        "admin",
        "create-customer",
        "--email",
        "eve@example.com",
        "--password",
        "a good password",
        "--name",
        "Eve",
        "--account",
        "C0FFEE",
        "--dc09-key",
        "00112233445566778899AABBCCDDEEFF",
        "--dc09-key-format",
        "hex",
        "--address",
        "9 Road",
        "--link-supervision-seconds",
        "90",
    )
    assert created.returncode == 0, created.stderr
    assert "customer_id=" in created.stdout and "account=C0FFEE" in created.stdout
    again = alarmhub(
        database_url,
        "admin",
        "create-customer",
        "--email",
        "eve2@example.com",
        "--password",
        "a good password",
        "--name",
        "Eve",
        "--account",
        "C0FFEE",
    )
    assert again.returncode == 1 and "already enrolled" in again.stderr
    user = alarmhub(
        database_url,
        "admin",
        "create-user",
        "--email",
        "disp@example.com",
        "--password",
        "a good password",
        "--role",
        "dispatcher",
    )
    assert user.returncode == 0, user.stderr
    connection = await asyncpg.connect(database_url)
    polls = await connection.fetchval("SELECT supervision_interval FROM panels WHERE account = 'C0FFEE'")
    assert polls == timedelta(seconds=90)  # the panel polls: the supervision fails it after 90 s + the grace
    try:
        key = await connection.fetchval("SELECT dc09_key FROM panels WHERE account = 'C0FFEE'")
        role = await connection.fetchval("SELECT role FROM users WHERE email = 'disp@example.com'")
    finally:
        await connection.close()
    assert key == bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    assert role == "dispatcher"


def test_demo_data_prints_the_logins(database_url: str) -> None:
    first = alarmhub(database_url, "demo-data")
    second = alarmhub(database_url, "demo-data")
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert "dispatcher@example.com" in first.stdout
    assert first.stdout == second.stdout


async def test_create_customer_takes_the_security_code_so_the_owner_can_register(database_url: str) -> None:
    created = alarmhub(
        database_url,
        "admin",
        "create-customer",
        "--email",
        "sam@example.com",
        "--password",
        "Lantern-Harbour-42",
        "--name",
        "Sam",
        "--account",
        "5A5A",
        "--security-code",
        "7741",
    )
    assert created.returncode == 0, created.stderr
    connection = await asyncpg.connect(database_url)
    try:
        code = await connection.fetchval("SELECT security_code FROM customers WHERE email = 'sam@example.com'")
    finally:
        await connection.close()
    assert code == "7741"


async def test_api_tokens_from_the_command_line(database_url: str) -> None:
    created = alarmhub(database_url, "admin", "create-api-token", "--name", "cad", "--role", "admin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n" and token.startswith("ahk_")  # alone, for TOKEN=$(alarmhub ...)
    assert "name=cad role=admin" in created.stderr and token not in created.stderr
    again = alarmhub(database_url, "admin", "create-api-token", "--name", "CAD", "--role", "dispatcher")
    assert again.returncode == 1 and "already named" in again.stderr
    customer = alarmhub(database_url, "admin", "create-api-token", "--name", "x", "--role", "owner")
    assert customer.returncode == 2 and "invalid choice" in customer.stderr
    revoked = alarmhub(database_url, "admin", "revoke-api-token", "--name", "cad")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    missing = alarmhub(database_url, "admin", "revoke-api-token", "--name", "cad")
    assert missing.returncode == 1 and "no live API token is named cad" in missing.stderr
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT name, role, revoked_at IS NOT NULL AS revoked FROM api_tokens")
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [("cad", "admin", True)]


async def test_create_customer_takes_what_the_panel_is_monitored_for(database_url: str) -> None:
    base = ["admin", "create-customer", "--password", "Lantern-Harbour-42", "--name", "Mo"]
    unknown = alarmhub(database_url, *base, "--email", "mo@example.com", "--account", "6B6B", "--monitored-for", "x")
    assert unknown.returncode == 2 and "--monitored-for" in unknown.stderr and "burglary" in unknown.stderr
    created = alarmhub(
        database_url, *base, "--email", "mo@example.com", "--account", "6B6B", "--monitored-for", "Fire, burglary,co"
    )
    assert created.returncode == 0, created.stderr
    connection = await asyncpg.connect(database_url)
    try:
        services = await connection.fetchval("SELECT monitored_services FROM panels WHERE account = '6B6B'")
    finally:
        await connection.close()
    assert services == ["burglary", "fire", "co"]


async def test_set_monitored_for_records_what_an_older_panel_is_monitored_for(database_url: str) -> None:
    """A panel enrolled before "Monitored for" was asked has none on file (no certificate can list it): staff set it."""
    created = alarmhub(
        database_url,
        *("admin", "create-customer", "--password", "Lantern-Harbour-42", "--name", "Old"),
        *("--email", "old@example.com", "--account", "7C7C"),
    )
    assert created.returncode == 0, created.stderr

    async def services() -> list[str]:
        connection = await asyncpg.connect(database_url)
        try:
            found: list[str] = await connection.fetchval("SELECT monitored_services FROM panels WHERE account = '7C7C'")
        finally:
            await connection.close()
        return found

    assert await services() == []
    done = alarmhub(database_url, "admin", "set-monitored-for", "7c7c", "Fire, burglary")
    assert done.returncode == 0, done.stderr
    assert "account=7C7C monitored_services=burglary,fire" in done.stdout
    assert await services() == ["burglary", "fire"]

    unknown = alarmhub(database_url, "admin", "set-monitored-for", "7C7C", "fire,unicorn")
    assert unknown.returncode == 2 and "'unicorn' is not a service" in unknown.stderr and "burglary" in unknown.stderr
    nobody = alarmhub(database_url, "admin", "set-monitored-for", "ABCDEF", "fire")
    assert nobody.returncode == 2 and "no panel has the account number 'ABCDEF'" in nobody.stderr
    assert await services() == ["burglary", "fire"]  # neither changed anything

    cleared = alarmhub(database_url, "admin", "set-monitored-for", "7C7C", "")
    assert cleared.returncode == 0, cleared.stderr
    assert await services() == []


async def test_after_restore_realigns_what_is_ahead_and_says_how_much(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("INSERT INTO job_cursors (job, xact, id) VALUES ('incident-opener', $1, 0)", 2**40)
    finally:
        await connection.close()
    first = alarmhub(database_url, "admin", "after-restore")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "signals_realigned=0 cursors_moved=1"
    again = alarmhub(database_url, "admin", "after-restore")
    assert again.stdout.strip() == "signals_realigned=0 cursors_moved=0"

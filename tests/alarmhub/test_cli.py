"""The command line as a user runs it: admin commands against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg

from tests.conftest import REPO


def alarmhub(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALARMHUB_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "alarmhub", *args],
        cwd=REPO,
        env=env,
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

"""`alarmhub admin rotate-dc09-key` as staff run it: the new key from standard input, the old one kept for the
overlap, nothing of either key printed."""

from __future__ import annotations

import asyncpg

from tests.alarmhub.test_cli import alarmhub

OLD = "000102030405060708090A0B0C0D0E0F"
NEW = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"


async def test_rotate_dc09_key_keeps_the_old_key_for_the_overlap_and_prints_no_key(database_url: str) -> None:
    created = alarmhub(
        database_url,
        *("admin", "create-customer", "--password", "Lantern-Harbour-42", "--name", "Keyed"),
        *("--email", "keyed@example.com", "--account", "5678", "--dc09-key", OLD),
    )
    assert created.returncode == 0, created.stderr

    rotated = alarmhub(database_url, "admin", "rotate-dc09-key", "5678", "--overlap-hours", "48", stdin=NEW + "\n")
    assert rotated.returncode == 0, rotated.stderr
    assert "account=5678 previous_key_accepted_until=" in rotated.stdout
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT dc09_key, dc09_key_previous, dc09_key_previous_until - now() AS overlap FROM panels "
            "WHERE account = '5678'"
        )
    finally:
        await connection.close()
    assert bytes(row["dc09_key"]).hex().upper() == NEW and bytes(row["dc09_key_previous"]).hex().upper() == OLD
    assert 47.9 < row["overlap"].total_seconds() / 3600 <= 48

    again = alarmhub(database_url, "admin", "rotate-dc09-key", "5678", "--dc09-key", NEW)
    assert again.returncode == 1 and "already the panel's key" in again.stderr
    nobody = alarmhub(database_url, "admin", "rotate-dc09-key", "ABCDEF", stdin=OLD + "\n")
    assert nobody.returncode == 2 and "no panel has the account number" in nobody.stderr
    short = alarmhub(database_url, "admin", "rotate-dc09-key", "5678", "--dc09-key", "00FF")
    assert short.returncode == 1 and "32, 48 or 64 digits" in short.stderr
    endless = alarmhub(database_url, "admin", "rotate-dc09-key", "5678", "--overlap-hours", "nan", stdin=OLD + "\n")
    assert endless.returncode == 2 and "--overlap-hours" in endless.stderr
    for run in (created, rotated, again, nobody, short, endless):
        for key in (OLD, NEW, OLD.lower(), NEW.lower()):
            assert key not in run.stdout and key not in run.stderr

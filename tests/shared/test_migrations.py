"""Migrations: applied in order once each, recorded, safe when two processes start at once."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import pytest

from shared.migrations import discover, migrate
from tests.conftest import REPO


async def test_every_migration_is_applied_once_and_recorded(empty_database_url: str) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        first = await migrate(connection)
        second = await migrate(connection)
        rows = await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await connection.close()
    assert [m.version for m in first] == [m.version for m in discover()]
    assert second == []
    assert [r["version"] for r in rows] == [m.version for m in discover()]


async def test_an_edited_migration_is_refused(empty_database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (id int);")
    connection = await asyncpg.connect(empty_database_url)
    try:
        await migrate(connection, tmp_path)
        (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (id bigint);")
        try:
            await migrate(connection, tmp_path)
        except RuntimeError as error:
            assert "edited after it was applied" in str(error)
        else:
            raise AssertionError("an edited migration must be refused")
    finally:
        await connection.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    connection = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(connection, tmp_path)
        versions = await connection.fetch("SELECT version FROM schema_migrations")
        half = await connection.fetchval("SELECT to_regclass('half')")
    finally:
        await connection.close()
    assert [r["version"] for r in versions] == [1]
    assert half is None


async def test_two_migrate_commands_at_the_same_moment_both_succeed(empty_database_url: str) -> None:
    env = {**os.environ, "ALARMHUB_DATABASE_URL": empty_database_url}
    commands = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alarmhub",
            "migrate",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = await asyncio.gather(*(c.communicate() for c in commands))
    assert [c.returncode for c in commands] == [0, 0], results
    outputs = sorted(out.decode() for out, _ in results)
    assert outputs[0].startswith("applied"), outputs
    assert outputs[1].startswith("schema up to date"), outputs
    connection = await asyncpg.connect(empty_database_url)
    try:
        count = await connection.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await connection.close()
    assert count == len(discover())


def test_the_readme_shows_the_number_of_migrations_a_new_database_gets() -> None:
    """The README's sample start-up output is what a newcomer compares with; keep it true."""
    import re
    from pathlib import Path

    from shared.migrations import discover

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\(applied (\d+) migrations\)", readme)
    assert shown is not None and int(shown.group(1)) == len(discover())

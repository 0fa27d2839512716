"""What every command needs first: the configuration, logging, and a database that is migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.config import Config
from shared.db import Pool, create_pool
from shared.migrations import migrate


@asynccontextmanager
async def short_lived_pool(url: str) -> AsyncIterator[Pool]:
    """A small pool for a one-shot command (migrate, admin, demo-data)."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def migrate_database(url: str) -> list[str]:
    """Apply pending migrations; the names of those applied now."""
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
        applied = await migrate(connection)
    return [f"{m.version:04d}_{m.name}" for m in applied]


def describe_database(config: Config) -> str:
    return "embedded PostgreSQL in " + str(config.var_dir / "pgdata") if not config["database.url"] else "configured"

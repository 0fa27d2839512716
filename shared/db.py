"""Database: the asyncpg pool and the one place that resolves which PostgreSQL to use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg

from shared.config import Config


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, connect_timeout: float = 10.0
) -> asyncpg.Pool:
    """Open a pool whose connections decode jsonb to Python values."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, timeout=connect_timeout, init=_init_connection
    )
    return pool


async def pool_from_config(config: Config, url: str) -> asyncpg.Pool:
    return await create_pool(
        url,
        min_size=config["database.pool_min_size"],
        max_size=config["database.pool_max_size"],
        connect_timeout=config["database.connect_timeout"],
    )


def embedded_pgdata(config: Config) -> Path:
    return config.var_dir / "pgdata"


def resolve_database_url(config: Config) -> str:
    """The configured URL, or the embedded server's (started if no process of ours has it running yet).

    Every alarmhub process with the same configuration reaches the same embedded server: pgserver keeps a list
    of the processes using it, and the last one to exit stops it.
    """
    url: str = config["database.url"]
    if url:
        return url
    from shared.embedded_postgres import attach_embedded_postgres

    return attach_embedded_postgres(embedded_pgdata(config))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Database: the asyncpg pool (connections decode jsonb); which PostgreSQL to use is shared/embedded_postgres.py's."""

from __future__ import annotations

import json

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

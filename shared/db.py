"""Database: the asyncpg pool (connections decode jsonb); which PostgreSQL to use is shared/embedded_postgres.py's."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias

import asyncpg

from shared.config import Config

# What a query takes: a connection of its own or one borrowed from a pool (asyncpg hands out a proxy for those).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


# The database cannot be reached just now — stopped, starting, restarting, out of connections, the network, a
# connection cut in the middle of a statement: a condition to wait out and say so, not a defect to trace. (A statement
# the server refused — a constraint, a syntax error, a timeout — is none of these.) OSError covers a refused or reset
# connection and a connect timeout; an aiohttp server's own "the client went away" is an OSError too, which the
# portal tells apart (portal/middleware.py).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,  # 08xxx: cannot connect, connection lost or does not exist
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: the server was stopped under the connection
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
)


async def _init_connection(connection: Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    connect_timeout: float = 10.0,
    server_settings: Mapping[str, str] | None = None,
    reset: Callable[[Connection], Awaitable[None]] | None = None,
) -> Pool:
    """Open a pool whose connections decode jsonb to Python values (and start with `server_settings`, if given).

    `reset`: what a connection goes through on its way back to the pool, after asyncpg has rolled back a
    transaction left open; by default asyncpg's reset (advisory locks, cursors, LISTEN and settings: one more round
    trip per release)."""
    pool: Pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        init=_init_connection,
        server_settings=dict(server_settings) if server_settings else None,
        reset=reset,
    )
    return pool


async def pool_from_config(
    config: Config,
    url: str,
    *,
    server_settings: Mapping[str, str] | None = None,
    reset: Callable[[Connection], Awaitable[None]] | None = None,
) -> Pool:
    return await create_pool(
        url,
        min_size=config["database.pool_min_size"],
        max_size=config["database.pool_max_size"],
        connect_timeout=config["database.connect_timeout"],
        server_settings=server_settings,
        reset=reset,
    )

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


# What the server says when it cannot serve a connection just now.
_SERVER_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # 08xxx: cannot connect, connection lost or does not exist
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: the server was stopped under the connection
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
)
# What asyncpg says of a connection it lost: "connection is closed", "the underlying connection is closed" (a
# transaction's exit after the server went away hides the real error this way), or a protocol state it cannot leave.
_CLIENT_LOST: tuple[type[Exception], ...] = (asyncpg.InterfaceError, asyncpg.InternalClientError)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached just now — stopped, starting, restarting, out of
    connections, the network, a connection cut in the middle of a statement: a condition to wait out and say so,
    not a defect to trace. A statement the server refused (a constraint, a syntax error, statement_timeout) is none
    of these; nor is an OSError or a timeout that did not come out of asyncpg (a browser that went away, a file). A
    statement that outran asyncpg's command timeout counts: the server is there but not answering in time."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # the error and what it was raised from or during
        seen.add(id(current))
        if isinstance(current, _SERVER_UNAVAILABLE):
            return True
        if isinstance(current, OSError) and _through_asyncpg(current):
            return True
        if isinstance(current, _CLIENT_LOST) and ("closed" in str(current) or "cannot switch" in str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def _through_asyncpg(error: BaseException) -> bool:
    """Whether the error passed through asyncpg's code (connecting, reading, writing) on its way up."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__", "").startswith("asyncpg."):
            return True
        frame = frame.tb_next
    return False


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

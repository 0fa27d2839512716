"""Database: the asyncpg pool and the one place that resolves which PostgreSQL to use."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

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

    with _stop_signals_held():
        return attach_embedded_postgres(embedded_pgdata(config))


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the embedded server starts, then end the process through SystemExit.

    Killed by the signal's default action mid-start, the process would leave a server running that nobody stops;
    exiting through SystemExit runs pgserver's exit handler, which stops it. SIGTERM keeps that meaning until the
    command's event loop installs its own handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous_int = signal.signal(signal.SIGINT, hold)
    previous_term = signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, _exit_on_signal if previous_term == signal.SIG_DFL else previous_term)
    if held:
        raise SystemExit(128 + held[0])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

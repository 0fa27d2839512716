"""The embedded PostgreSQL (pgserver) used when `database.url` is empty: one server per data directory."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from shared.db import pid_alive

_HANDLES_FILE = ".handle_pids.json"
DATABASE_NAME = "alarmhub"


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without detaching (kill -9), so the last live one still stops the server."""
    handles = pgdata / _HANDLES_FILE
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def attach_embedded_postgres(pgdata: Path) -> str:
    """Start (or join) the embedded server for `pgdata`; return a URL that reaches it over its unix socket."""
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; harmless
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    if DATABASE_NAME not in server.psql(f"SELECT datname FROM pg_database WHERE datname = '{DATABASE_NAME}'"):
        server.psql(f"CREATE DATABASE {DATABASE_NAME}")
    url: str = server.get_uri(database=DATABASE_NAME)
    return url

"""Which PostgreSQL a command uses: the configured one, or the embedded server (pgserver), one per data directory."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from shared.config import Config

_HANDLES_FILE = ".handle_pids.json"
_RUN_MARKER = ".alarmhub_run_before"
DATABASE_NAME = "alarmhub"


def embedded_pgdata(config: Config) -> Path:
    return config.var_dir / "pgdata"


def uses_embedded_postgres(config: Config) -> bool:
    return not config["database.url"]


def run_before(config: Config) -> bool:
    """Whether `alarmhub run` has started on this embedded database before (a marker in its data directory, so a
    new data directory starts afresh)."""
    return (embedded_pgdata(config) / _RUN_MARKER).exists()


def mark_run(config: Config) -> None:
    (embedded_pgdata(config) / _RUN_MARKER).touch()


def resolve_database_url(config: Config) -> str:
    """The configured URL, or the embedded server's (started if no process of ours has it running yet).

    Every alarmhub process with the same configuration reaches the same embedded server: pgserver keeps a list
    of the processes using it, and the last one to exit stops it.
    """
    url: str = config["database.url"]
    if url:
        return url
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

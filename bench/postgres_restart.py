"""Starting an embedded PostgreSQL (pgserver) again after a stop, for the soak and the fault tests."""

from __future__ import annotations

import asyncio
import subprocess


async def start_again(server: object) -> None:
    """Start the stopped server; pg_ctl now and then refuses while the old postmaster's files linger."""
    for attempt in range(10):
        try:
            await asyncio.to_thread(server.ensure_postgres_running)  # type: ignore[attr-defined]
            return
        except (subprocess.CalledProcessError, FileNotFoundError):
            if attempt == 9:
                raise
            await asyncio.sleep(0.5)

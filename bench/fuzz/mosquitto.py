"""A Mosquitto of the run's own, so that no other receiver answers on the fuzzer's topics."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.fuzz.plan import Broker
from bench.ingest import free_port, wait_for_port

MOSQUITTO_SETTINGS = "allow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 0\n"


@asynccontextmanager
async def own_mosquitto(directory: Path) -> AsyncIterator[Broker | None]:
    """A Mosquitto of the run's own on a free port (None when the binary is missing).

    The topics are fixed (alarmhub/panels/<account>/...), so every receiver subscribed to a shared broker — another
    test run's, say — answers the fuzzer's inputs on the same ack topics, and the fuzzer's receiver answers theirs:
    exact per-input checks need a broker no other receiver uses. Persistence is off (nothing outlives the run) and
    TCP_NODELAY on, so that an answer is not held for the peer's delayed ACK.
    """
    binary = shutil.which("mosquitto") or next((path for path in ("/usr/sbin/mosquitto",) if Path(path).exists()), None)
    if binary is None:
        yield None
        return
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\n{MOSQUITTO_SETTINGS}")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_for_port(port, process)
        yield Broker(f"mqtt://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=15)

"""Console benchmark: from a panel's send to the dispatchers' websockets, p50/p99 at 1,000 signals/s, 10 consoles.

A fresh database gets 100 simulated panels and 10 dispatchers. A real `alarmhub receiver` and a real `alarmhub
portal` run as subprocesses; 10 consoles (another subprocess: an aiohttp client per dispatcher, logged in through
the login form) hold /dispatch/live open; this process drives the panels with DC-09 frames at the given total rate
(each waits for its ACK, as panels do). A signal's latency is from the moment its frame is written to the panel's
socket to the moment a console's websocket delivers the message carrying it (matched by account and sequence
number; both processes read the same monotonic clock), for every console. Target: p99 ≤ 100 ms.

    python -m bench.console [--seconds 10] [--rate 1000] [--consoles 10] [--panels 100] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from bench.ingest import (
    REPO,
    cpu_seconds,
    free_port,
    machine,
    postgres_cpu_seconds,
    process_tree,
    run_benchmark,
    server_url,
    wait_for_port,
    with_database,
)
from bench.ingest import write_results as write_section
from receiver.simulator.client import PanelSession, Tally, TcpPanel
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.run import virtual_panels
from receiver.simulator.traffic import VirtualPanel
from shared.enrolment import create_staff_user
from shared.migrations import migrate

PASSWORD = "bench horse battery staple"
TARGET_P99 = 0.100
WARM_UP = 1.0  # seconds of traffic before the measured window (the receiver's and the portal's caches warm)
TAIL = 2.0  # seconds to wait after the last send for the consoles to receive the rest
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# In a DC-09 frame: the quoted message type, the 4-digit sequence, then R…L…#account[
_FRAME = re.compile(rb'"\*?[A-Z0-9-]+"(\d{4})(?:R[0-9A-F]+)?(?:L[0-9A-F]+)?#([0-9A-F]+)\[')
_clock = time.perf_counter  # CLOCK_MONOTONIC on Linux: the same clock in every process of the machine


def dispatcher_email(index: int) -> str:
    return f"dispatcher{index}@bench.invalid"


# --- the consoles (a subprocess of their own, so that receiving does not share a core with sending) ---------------


async def _console(
    base: str, email: str, index: int, ready: asyncio.Event, out: list[tuple[int, str, str, float]]
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # 127.0.0.1
        async with session.get(f"{base}/login") as response:
            token = _CSRF.search(await response.text())
        assert token, "no CSRF token on the login page"
        form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        async with session.post(f"{base}/login", data=form) as response:
            await response.read()
        async with session.ws_connect(f"{base}/dispatch/live", max_msg_size=0) as ws:
            async for message in ws:
                now = _clock()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                for line in message.data.split("\n"):
                    data = json.loads(line)
                    if data["type"] == "signal":
                        signal = data["signal"]
                        out.append((index, signal["account"], signal["sequence"], now))
                    elif data["type"] == "queue":
                        ready.set()


async def _serve_consoles(base: str, count: int) -> int:
    """Open the consoles, print "ready" once each has its first message, record until stdin says stop."""
    received: list[tuple[int, str, str, float]] = []
    readiness = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(_console(base, dispatcher_email(i), i, readiness[i], received)) for i in range(count)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in readiness)), 30)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    json.dump(received, sys.stdout)
    sys.stdout.flush()
    return 0


# --- the panels --------------------------------------------------------------------------------------------------


def frame_key(frame: bytes) -> tuple[str, str]:
    match = _FRAME.search(frame)
    if match is None:
        raise ValueError(f"not a plain DC-09 frame: {frame[:60]!r}")
    return match.group(2).decode(), match.group(1).decode()


async def drive_panels(
    panels: list[VirtualPanel], port: int, rate: float, duration: float, sent_at: dict[tuple[str, str], float]
) -> Tally:
    """As receiver.simulator.client.run_panels, recording when each frame was first written (a retransmission
    keeps its first time)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    interval = len(panels) / rate
    remaining = len(panels)
    finished = loop.create_future()

    def panel_done() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not finished.done():
            finished.set_result(None)

    def timed(write: Callable[[bytes], None]) -> Callable[[bytes], None]:
        def send(frame: bytes) -> None:
            sent_at.setdefault(frame_key(frame), _clock())
            write(frame)

        return send

    sessions: list[tuple[PanelSession, float]] = []
    transports: list[asyncio.BaseTransport] = []
    for index, panel in enumerate(panels):
        session = PanelSession(panel, tally, interval=interval, stop_at=0.0, answer_timeout=5.0, on_done=panel_done)
        transport, _ = await loop.create_connection(functools.partial(TcpPanel, session), "127.0.0.1", port)
        session.send = timed(session.send)
        transports.append(transport)
        sessions.append((session, index / len(panels) * interval))
    stop_at = _clock() + duration
    for session, delay in sessions:
        session.stop_at = stop_at
        session.start(delay)
    try:
        await asyncio.wait_for(finished, duration + 10)
    finally:
        for transport in transports:
            transport.close()
    return tally


# --- set-up and report -------------------------------------------------------------------------------------------


def _environment(database_url: str, var_dir: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_PATHS_VAR_DIR": var_dir,
        "ALARMHUB_LOG_LEVEL": "warning",
    }


async def watch_other_transactions(database_url: str) -> tuple[int, int]:
    """How often (samples, of them disturbed) a transaction of another database held a transaction id.

    The consoles' feed is gap-free (shared.signal_cursor): a signal committed while an older transaction anywhere
    on the server is still open waits for it to end. On a shared server other work delays the feed; the report says
    so, so that a figure taken on a busy machine is not mistaken for the console's own.
    """
    connection = await asyncpg.connect(database_url)
    samples = disturbed = 0
    try:
        while True:
            others = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname <> current_database()"
            )
            samples += 1
            disturbed += others > 0
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        return samples, disturbed
    finally:
        await connection.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace, database_url: str) -> tuple[str, bool]:
    connection = await asyncpg.connect(database_url)
    try:
        await migrate(connection)
        version = await connection.fetchval("SHOW server_version")
        panels = virtual_panels(args.panels, encrypted=False)
        await enrol_simulated_panels(connection, {p.account: p.key for p in panels})
        for index in range(args.consoles):
            await create_staff_user(connection, email=dispatcher_email(index), password=PASSWORD, role="dispatcher")
    finally:
        await connection.close()

    var_dir = tempfile.mkdtemp(prefix="alarmhub-bench-console-")
    receiver_port, portal_port = free_port(), free_port()
    env = _environment(database_url, var_dir)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "alarmhub", "receiver"],
        cwd=REPO,
        env={**env, "ALARMHUB_RECEIVER_DC09_PORT": str(receiver_port)},
    )
    portal = subprocess.Popen(
        [sys.executable, "-m", "alarmhub", "portal"],
        cwd=REPO,
        env={
            **env,
            "ALARMHUB_PORTAL_HOST": "127.0.0.1",
            "ALARMHUB_PORTAL_PORT": str(portal_port),
            "ALARMHUB_PORTAL_SESSION_KEY": Fernet.generate_key().decode(),
        },
    )
    consoles: subprocess.Popen[bytes] | None = None
    try:
        await wait_for_port(receiver_port, receiver)
        await wait_for_port(portal_port, portal)
        consoles = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.console",
                "--serve-consoles",
                f"http://127.0.0.1:{portal_port}",
                "--consoles",
                str(args.consoles),
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert consoles.stdout is not None and consoles.stdin is not None
        line = await asyncio.get_running_loop().run_in_executor(None, consoles.stdout.readline)
        if line.strip() != b"ready":
            raise RuntimeError(f"the consoles did not start: {line!r}")

        sent_at: dict[tuple[str, str], float] = {}
        await drive_panels(panels, receiver_port, args.rate, WARM_UP, {})
        parts = {"receiver": process_tree(receiver.pid), "portal": [portal.pid], "consoles": [consoles.pid]}

        def cpu() -> dict[str, float]:
            used = {part: sum(cpu_seconds(pid) for pid in pids) for part, pids in parts.items()}
            return {**used, "PostgreSQL": postgres_cpu_seconds()}

        started, cpu_before = _clock(), cpu()
        watching = asyncio.create_task(watch_other_transactions(database_url))
        tally = await drive_panels(panels, receiver_port, args.rate, args.seconds, sent_at)
        seconds = _clock() - started
        watching.cancel()
        samples, disturbed = await watching
        await asyncio.sleep(0.5)  # the last signals reach the consoles
        cpu_used = {part: used - cpu_before[part] for part, used in cpu().items()}
        await asyncio.sleep(TAIL)
        consoles.stdin.write(b"stop\n")
        consoles.stdin.flush()
        output = await asyncio.get_running_loop().run_in_executor(None, consoles.stdout.read)
        consoles.wait(timeout=15)
    finally:
        for process in (consoles, portal, receiver):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)

    received = json.loads(output)
    latencies: list[float] = []
    per_console: dict[int, int] = {}
    for index, account, sequence, at in received:
        sent = sent_at.get((account, sequence))
        if sent is not None:
            latencies.append(at - sent)
            per_console[index] = per_console.get(index, 0) + 1
    acked = tally.acked
    complete = all(per_console.get(i, 0) >= acked for i in range(args.consoles))
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    met = p99 <= TARGET_P99 and complete
    lines = [
        "| signals/s sent | consoles | acked | delivered to every console | p50 | p99 | max | target p99 ≤ 100 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {tally.sent / seconds:,.0f} | {args.consoles} | {acked:,} | "
        f"{'yes' if complete else 'NO: ' + ', '.join(str(per_console.get(i, 0)) for i in range(args.consoles))} | "
        f"{p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms | {max(latencies, default=0) * 1000:.1f} ms | "
        f"{'met' if met else 'NOT met'} |",
    ]
    report = (
        f"Machine: {machine()}; PostgreSQL {version} ({'server at ' + urlsplit(database_url).netloc}).\n"
        f"Command: `python -m bench.console --seconds {args.seconds:g} --rate {args.rate:g} "
        f"--consoles {args.consoles} --panels {args.panels}` ({WARM_UP:g} s warm-up; receiver, portal, consoles "
        f"and panels in four processes on the same machine; latency from the panel's write of the frame to each "
        f"console's websocket delivering the message, ACK p50/p99 of the panels "
        f"{tally.percentile(0.5) * 1000:.1f}/{tally.percentile(0.99) * 1000:.1f} ms; other databases' transactions "
        f"open in {disturbed} of {samples} samples taken every 50 ms"
        f"{' (a busy server: they hold the feed back)' if disturbed else ''}"
        "; CPU per signal: "
        + ", ".join(f"{part} {used / max(acked, 1) * 1e6:.0f} µs" for part, used in cpu_used.items())
        + ").\n\n"
        + "\n".join(lines)
        + "\n"
    )
    return report, met


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="signals/s for all panels together")
    parser.add_argument("--consoles", type=int, default=10)
    parser.add_argument("--panels", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="replace the console table in bench/RESULTS.md")
    parser.add_argument("--serve-consoles", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_consoles:
        return await _serve_consoles(args.serve_consoles, args.consoles)

    url, embedded = server_url()
    name = f"alarmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        report, met = await run(args, with_database(url, name))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    print("\n" + report)
    if args.write:
        write_section(report, section="console", title="Dispatchers' console: panel to websocket")
    return 0 if met else 1


if __name__ == "__main__":
    run_benchmark(main)

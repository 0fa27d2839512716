"""Ingest benchmark: committed-and-acknowledged signals/s and ACK latency, TCP (1-1000 connections) and UDP.

Each scenario starts a real `alarmhub receiver` process on a fresh database, drives virtual panels that send a
frame and wait for its answer before the next (as panels do), then checks that the table holds exactly one row
per acknowledged frame. Results go to bench/RESULTS.md.

    python -m bench.ingest [--duration 10] [--quick] [--scenario tcp-plain-100 …]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from receiver.dc09 import encode_frame
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.run import virtual_panels
from receiver.simulator.traffic import VirtualPanel, panel_accounts
from shared.migrations import migrate

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
MAX_EXPECTED_RATE = 50_000  # frames/s for all panels together: how many frames to build before a run
MAX_RATE_PER_PANEL = 3_000  # one connection that waits for each answer cannot go faster on this hardware


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    transport: str
    connections: int
    encrypted: bool
    processes: int = 1  # receiver.processes: workers of one `alarmhub receiver` sharing the port (SO_REUSEPORT)
    timestamps: bool = True  # False: plain messages without one (the retransmission rule's statement and upsert)


SCENARIOS = (
    [
        Scenario(f"{transport}-{'aes128' if encrypted else 'plain'}-{connections}", transport, connections, encrypted)
        for transport, encrypted, connections in [
            ("tcp", False, 1),
            ("tcp", False, 10),
            ("tcp", False, 100),
            ("tcp", False, 1000),
            ("tcp", True, 1),
            ("tcp", True, 10),
            ("tcp", True, 100),
            ("tcp", True, 1000),
            ("udp", False, 100),
            ("udp", True, 100),
        ]
    ]
    + [
        Scenario(f"tcp-{'aes128' if encrypted else 'plain'}-100-2proc", "tcp", 100, encrypted, processes=2)
        for encrypted in (False, True)
    ]
    + [Scenario("tcp-untimed-100", "tcp", 100, False, timestamps=False)]
)


class UntimedPanel(VirtualPanel):
    """A plain panel that leaves out the optional timestamp, as many do: every frame takes the reference codec and
    the batch writer's untimed statement (sql/0019_untimed_retransmission.sql)."""

    __slots__ = ()

    def frame(self, message_type: str, data: str, now: datetime | None = None) -> bytes:
        sequence = self.sequence
        self.sequence = sequence % 9999 + 1
        return encode_frame(message_type, sequence, self.account, data, receiver=self.receiver, line=self.line)


def scenario_panels(scenario: Scenario) -> list[VirtualPanel]:
    if scenario.timestamps:
        return virtual_panels(scenario.connections, scenario.encrypted)
    return [UntimedPanel(account) for account in panel_accounts(scenario.connections)]


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Scenario
    seconds: float
    tally: Tally
    rows: int
    cpu: dict[str, float]  # CPU seconds spent during the timed run: receiver, client, postgres

    def cpu_per_signal(self, part: str) -> float:
        """Microseconds of CPU per acknowledged signal."""
        return self.cpu[part] / max(self.tally.acked, 1) * 1e6

    @property
    def rate(self) -> float:
        return self.tally.acked / self.seconds


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on the machine (the bench's server does the work during a run)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                total += cpu_seconds(int(entry.name))
    return total


def cpu_snapshot(receiver_pids: list[int]) -> dict[str, float]:
    return {
        "receiver": sum(cpu_seconds(pid) for pid in receiver_pids),
        "client": cpu_seconds(os.getpid()),
        "postgres": postgres_cpu_seconds(),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_url() -> tuple[str, object | None]:
    """A PostgreSQL server to create the bench database on: configured, or an embedded one."""
    url = os.environ.get("ALARMHUB_BENCH_DATABASE_URL") or os.environ.get("ALARMHUB_TEST_DATABASE_URL")
    if url:
        return url, None
    import pgserver

    directory = tempfile.mkdtemp(prefix="alarmhub-bench-")
    server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
    return server.get_uri(), server


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_migrated_database(url: str, name: str) -> str:
    """Database `name` on the server at `url`, created and migrated; its URL."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    database_url = with_database(url, name)
    connection = await asyncpg.connect(database_url)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return database_url


@asynccontextmanager
async def migrated_database(url: str, purpose: str) -> AsyncIterator[str]:
    """A fresh, migrated database on the server at `url` for one run, dropped afterwards."""
    name = f"alarmhub_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        yield await create_migrated_database(url, name)
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def wait_for_port(port: int, process: subprocess.Popen[bytes], limit: float = 30, listeners: int = 1) -> None:
    """Until `listeners` sockets listen on the port (every worker: connections made earlier would all go to the
    first one)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the receiver exited during start-up")
        if listening_sockets(port) >= listeners:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the receiver did not start listening")


def listening_sockets(port: int) -> int:
    """TCP sockets in LISTEN state on `port` (IPv4), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
            count += 1
    return count


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


async def run_scenario(scenario: Scenario, database_url: str, duration: float, *, worker: bool = False) -> Result:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("TRUNCATE signals, signal_keys, rejected_frames, untimed_transmissions")
        panels = scenario_panels(scenario)
        await enrol_simulated_panels(connection, {p.account: p.key for p in panels})
    finally:
        await connection.close()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(port),
        "ALARMHUB_LOG_LEVEL": "warning",
        **{k: v for k, v in os.environ.items() if k.startswith("ALARMHUB_RECEIVER_")},  # e.g. BATCH_WRITERS
    }
    env["ALARMHUB_RECEIVER_PROCESSES"] = str(scenario.processes)
    receiver = subprocess.Popen([sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env)
    # --with-worker: `alarmhub worker` on the same database, so its incident opener follows every signal stored (and
    # its supervision checks the panels) while the receiver is measured.
    jobs = subprocess.Popen([sys.executable, "-m", "alarmhub", "worker"], cwd=REPO, env=env) if worker else None
    try:
        await wait_for_port(port, receiver, listeners=scenario.processes)
        await run_panels(panels, "127.0.0.1", port, transport=scenario.transport, duration=1.0)  # warm-up
        connection = await asyncpg.connect(database_url)
        await connection.execute("TRUNCATE signals, signal_keys")
        # Frames are built before the clock starts, so that the client measures the receiver, not its own encoder.
        per_panel = min(int(MAX_EXPECTED_RATE * duration / len(panels)) + 10, int(MAX_RATE_PER_PANEL * duration))
        for panel in panels:
            panel.prepare(per_panel)
        pids = process_tree(receiver.pid)  # the receiver, or its supervisor and workers
        started, cpu_before = time.perf_counter(), cpu_snapshot(pids)
        tally = await run_panels(panels, "127.0.0.1", port, transport=scenario.transport, duration=duration)
        seconds, cpu_after = time.perf_counter() - started, cpu_snapshot(pids)
        cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_before}
        rows = await connection.fetchval("SELECT count(*) FROM signals")
        await connection.close()
    finally:
        receiver.terminate()  # a supervisor stops its workers
        receiver.wait(timeout=15)
        if jobs is not None:
            jobs.terminate()
            jobs.wait(timeout=15)
    if not all(panel.prepared for panel in panels):
        # It built frames during the run, on the cores the receiver needs: the figure would be too low.
        raise RuntimeError(
            f"{scenario.name}: a panel ran out of its {per_panel} prepared frames; raise MAX_EXPECTED_RATE "
            f"({MAX_EXPECTED_RATE}/s for all panels) or MAX_RATE_PER_PANEL ({MAX_RATE_PER_PANEL}/s for one)"
        )
    return Result(scenario, seconds, tally, rows, cpu)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "?"
    )
    return f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, Python {platform.python_version()}"


def median_run(runs: list[Result]) -> Result:
    """The run with the median throughput (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2]


def table(runs_by_scenario: list[list[Result]]) -> str:
    lines = [
        "| scenario | signals/s | range of runs | p50 ACK | p99 ACK | acked | rows = acked "
        "| CPU µs/signal: receiver | client | PostgreSQL |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for runs in runs_by_scenario:
        r = median_run(runs)
        s = r.scenario
        spread = f"{min(run.rate for run in runs):,.0f}–{max(run.rate for run in runs):,.0f}" if len(runs) > 1 else ""
        stored = all(run.rows == run.tally.acked for run in runs)
        lines.append(
            f"| {s.name} | {r.rate:,.0f} | {spread} | {r.tally.percentile(0.5) * 1000:.1f} ms | "
            f"{r.tally.percentile(0.99) * 1000:.1f} ms | {r.tally.acked:,} | "
            f"{'yes' if stored else 'NO'} | "
            f"{r.cpu_per_signal('receiver'):.0f} | {r.cpu_per_signal('client'):.0f} | "
            f"{r.cpu_per_signal('postgres'):.0f} |"
        )
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, 100 connections only")
    parser.add_argument("--scenario", action="append", help="run only these (e.g. tcp-plain-100)")
    parser.add_argument("--write", action="store_true", help="replace the results table in bench/RESULTS.md")
    parser.add_argument(
        "--with-worker", action="store_true", help="run `alarmhub worker` (the incident opener) during each scenario"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per scenario, interleaved; the table shows the median run"
    )
    args = parser.parse_args(argv)
    chosen = [
        s
        for s in SCENARIOS
        if (not args.scenario or s.name in args.scenario) and (not args.quick or s.connections == 100)
    ]
    duration = 3.0 if args.quick else args.duration
    url, embedded = server_url()
    name = f"alarmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    runs: dict[str, list[Result]] = {scenario.name: [] for scenario in chosen}
    try:
        connection = await asyncpg.connect(database_url)
        await migrate(connection)
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
        for scenario in [scenario for _ in range(args.repeat) for scenario in chosen]:  # interleaved: drift hits all
            result = await run_scenario(scenario, database_url, duration, worker=args.with_worker)
            runs[scenario.name].append(result)
            cpu = " ".join(f"{part}={result.cpu_per_signal(part):.0f}us" for part in result.cpu)
            print(
                f"{scenario.name:<18} {result.tally.summary(result.seconds)} rows={result.rows} cpu/signal: {cpu}",
                flush=True,
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    report = (
        f"Machine: {machine()}; PostgreSQL {version} "
        f"({'embedded' if embedded else 'server at ' + urlsplit(url).netloc}).\n"
        f"Command: `python -m bench.ingest{' --quick' if args.quick else ''}"
        f"{' --with-worker' if args.with_worker else ''}"
        f"{f' --repeat {args.repeat}' if args.repeat > 1 else ''}` ({duration:g} s per scenario after a 1 s "
        f"warm-up; receiver and load client in separate processes on the same machine"
        f"{f'; each scenario run {args.repeat} times, interleaved, the median run shown' if args.repeat > 1 else ''})."
        f"\n\n{table(list(runs.values()))}\n"
    )
    print("\n" + report)
    if args.write:
        write_results(report)
    return 0 if all(run.rows == run.tally.acked for scenario_runs in runs.values() for run in scenario_runs) else 1


def write_results(report: str, section: str = "ingest", title: str = "DC-09 ingest") -> None:
    """Replace the table between `<!-- section:start -->` and `<!-- section:end -->` in bench/RESULTS.md."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start not in text:
        text = f"{text.rstrip()}\n\n## {title}\n\n{start}\n{end}\n"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    RESULTS.write_text(f"{before}{start}\n{report}{end}{after}")


def run_benchmark(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a benchmark's main() on uvloop, as the receiver runs, and exit with its status."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        sys.exit(runner.run(main()))


if __name__ == "__main__":
    run_benchmark(main)

"""The issue's bare prototype, run as a yardstick of the host's speed, in alternate runs with the receiver.

Issue 3 sets the receiver's floor (20,000 plain signals/s at 100 connections) against "a bare prototype of parse →
one batched INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING per batch → ACK after commit", which reached about
28,000/s with p99 6 ms on this machine. The machine is shared and its speed moves from day to day (in
bench/RESULTS.md, tcp-plain-1 has read from 1,550 to 2,000/s), so a figure taken on one day says little about
another. Running such a prototype and the receiver one after the other, several times, in one period says where
the receiver stands against it: the ratio carries over to the day the issue's figure was taken.

The prototype is not the receiver and stores nothing the receiver would trust: it checks the CRC, takes account,
sequence, timestamp and data with a regular expression, answers a plain ACK after the commit and refuses nothing.
One writer connection; frames that arrive while a batch commits form the next. It stores either in a five-column
table of its own under a three-column unique key (`minimal`: what "bare" suggests), or in alarmhub's own signals
table with all its indexes, the required columns filled from what it parsed or with constants (`signals`: what
storing a whole signal costs PostgreSQL is then the same on both sides). The issue does not say which it was, so
both run. The load is bench.ingest's tcp-plain-100: the same client, 100 simulated plain panels, frames built
before the clock starts. `--write` puts the summary in bench/RESULTS.md.

    python -m bench.yardstick [--runs 5] [--duration 10] [--table minimal|signals] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from typing import cast

import asyncpg

from bench.ingest import (
    REPO,
    SCENARIOS,
    cpu_snapshot,
    free_port,
    machine,
    run_benchmark,
    run_scenario,
    server_url,
    wait_for_port,
    with_database,
    write_results,
)
from receiver.dc09.crc import crc16_arc
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.run import virtual_panels
from shared.migrations import migrate

_HEADER = re.compile(rb'"(?:ADM-CID|SIA-DCS|NULL)"(\d{4})(R[0-9A-F]{1,6})?(L[0-9A-F]{1,6})#([0-9A-F]{3,16})\[')
TABLE = """
CREATE TABLE yardstick_signals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account     text NOT NULL,
    sequence    text NOT NULL,
    panel_time  text NOT NULL,
    data        text NOT NULL,
    raw_frame   bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account, sequence, panel_time)
)"""
# --table minimal: a table of its own (the prototype as the issue describes it); --table signals: alarmhub's own
# signals table with its indexes, the required columns filled with what the prototype parsed or constants, so
# that the comparison leaves out what storing the whole signal costs PostgreSQL.
INSERTS = {
    "minimal": """
INSERT INTO yardstick_signals (account, sequence, panel_time, data, raw_frame)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
ON CONFLICT DO NOTHING""",
    "signals": """
INSERT INTO signals (account, transport, sequence, panel_time, format, code, qualifier, category, priority,
                     description, raw_frame)
SELECT a, 'tcp', s, to_timestamp(t, 'HH24:MI:SS,MM-DD-YYYY'), 'ADM-CID', d, 'event', 'other', 0, '', r
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) AS u(a, s, t, d, r)
ON CONFLICT DO NOTHING""",
}
MAX_EXPECTED_RATE = 60_000  # frames/s for all panels together: how many to build before a run (it ran at up to 38,000)


def plain_ack(sequence: bytes, receiver: bytes, line: bytes, account: bytes) -> bytes:
    body = b'"ACK"' + sequence + receiver + line + b"#" + account + b"[]"
    return b"\n%04X%04X%s\r" % (crc16_arc(body), len(body), body)


class Prototype:
    """Frames from every connection, written in one statement per batch, each answered after its commit."""

    def __init__(self, insert: str) -> None:
        self.insert = insert
        self.rows: tuple[list[str], list[str], list[str], list[str], list[bytes]] = ([], [], [], [], [])
        self.answers: list[tuple[asyncio.Transport, bytes]] = []
        self.wakeup = asyncio.Event()

    def receive(self, transport: asyncio.Transport, frame: bytes) -> None:
        body = frame[9:]
        if len(frame) < 10 or int(frame[1:5], 16) != crc16_arc(body):
            return
        match = _HEADER.match(body)
        if match is None:
            return
        sequence, receiver, line, account = match.groups()
        data = body[match.end() : body.index(b"]", match.end())]
        accounts, sequences, times, datas, raws = self.rows
        accounts.append(account.decode())
        sequences.append(sequence.decode())
        times.append(body[body.rindex(b"_") + 1 :].decode())
        datas.append(data.decode())
        raws.append(frame)
        self.answers.append((transport, plain_ack(sequence, receiver or b"", line, account)))
        self.wakeup.set()

    async def write(self, database_url: str) -> None:
        connection = await asyncpg.connect(database_url)
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            rows, answers = self.rows, self.answers
            self.rows, self.answers = ([], [], [], [], []), []
            await connection.execute(self.insert, *rows)
            for transport, answer in answers:  # after the commit, in arrival order
                if not transport.is_closing():
                    transport.write(answer)


class PrototypeConnection(asyncio.Protocol):
    def __init__(self, prototype: Prototype) -> None:
        self.prototype = prototype
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        *frames, self.buffer = (self.buffer + data).split(b"\r")
        for frame in frames:
            start = frame.find(b"\n")
            if start >= 0:
                self.prototype.receive(self.transport, frame[start:])


async def serve(database_url: str, port: int, table: str) -> int:
    prototype = Prototype(INSERTS[table])
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: PrototypeConnection(prototype), "127.0.0.1", port, backlog=1024)
    await prototype.write(database_url)
    return 0


async def prototype_run(
    database_url: str, connections: int, duration: float, table: str
) -> tuple[Tally, float, int, dict[str, float]]:
    """One timed run of the prototype: tally, seconds, rows stored, CPU seconds of each part."""
    connection = await asyncpg.connect(database_url)
    await connection.execute("DROP TABLE IF EXISTS yardstick_signals")
    await connection.execute(TABLE)
    stored_in = "yardstick_signals" if table == "minimal" else "signals"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.yardstick", "--serve", database_url, "--port", str(port), "--table", table],
        cwd=REPO,
    )
    try:
        await wait_for_port(port, server)
        panels = virtual_panels(connections, encrypted=False)
        await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=1.0)  # warm-up
        await connection.execute(f"TRUNCATE {stored_in}")
        for panel in panels:
            panel.prepare(int(MAX_EXPECTED_RATE * duration / connections) + 10)

        started, before = time.perf_counter(), cpu_snapshot([server.pid])
        tally = await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=duration)
        seconds, after = time.perf_counter() - started, cpu_snapshot([server.pid])
        cpu = {part: after[part] - before[part] for part in before}
        rows = await connection.fetchval(f"SELECT count(*) FROM {stored_in}")
        assert all(panel.prepared for panel in panels), "a panel ran out of prepared frames: raise MAX_EXPECTED_RATE"
    finally:
        server.terminate()
        server.wait(timeout=15)
        await connection.close()
    return tally, seconds, rows, cpu


def line(name: str, tally: Tally, seconds: float, rows: int, cpu: dict[str, float]) -> tuple[float, str]:
    rate = tally.acked / seconds
    per = " / ".join(f"{cpu[part] / max(tally.acked, 1) * 1e6:.0f}" for part in ("receiver", "client", "postgres"))
    return rate, (
        f"{name:<10} {rate:>8,.0f}/s  p50 {tally.percentile(0.5) * 1e3:.1f} ms  p99 {tally.percentile(0.99) * 1e3:.1f}"
        f" ms  rows = acked: {'yes' if rows == tally.acked else f'NO ({rows} rows, {tally.acked} acked)'}"
        f"  CPU µs/signal server/client/PostgreSQL {per}"
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument(
        "--table",
        action="append",
        choices=sorted(INSERTS),
        help="where the prototype stores: a five-column table of its own (minimal), or alarmhub's signals table; "
        "both by default, each in every round",
    )
    parser.add_argument("--write", action="store_true", help="replace the yardstick table in bench/RESULTS.md")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return await serve(args.serve, args.port, args.table[0])
    tables = args.table or sorted(INSERTS)
    [scenario] = [s for s in SCENARIOS if s.name == "tcp-plain-100"]
    scenario = replace(scenario, name=f"tcp-plain-{args.connections}", connections=args.connections)
    url, embedded = server_url()
    name = f"alarmhub_yardstick_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    rates: dict[str, list[float]] = {**{f"prototype, {table}": [] for table in tables}, "receiver": []}
    ok = True
    try:
        connection = await asyncpg.connect(database_url)
        await migrate(connection)
        await connection.close()
        for run in range(args.runs):  # every part once per round: a drift of the host's speed hits them all
            for table in tables:
                tally, seconds, rows, cpu = await prototype_run(database_url, args.connections, args.duration, table)
                rate, text = line(f"prototype, {table}", tally, seconds, rows, cpu)
                rates[f"prototype, {table}"].append(rate)
                ok &= rows == tally.acked
                print(f"round {run + 1} {text}", flush=True)
            result = await run_scenario(scenario, database_url, args.duration)
            rate, text = line("receiver", result.tally, result.seconds, result.rows, result.cpu)
            rates["receiver"].append(rate)
            ok &= result.rows == result.tally.acked
            print(f"round {run + 1} {text}", flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    report = summary(rates, args)
    print("\n" + report)
    if args.write:
        write_results(report, section="yardstick", title="Against the issue's bare prototype")
    return 0 if ok else 1


def summary(rates: dict[str, list[float]], args: argparse.Namespace) -> str:
    """A markdown table: each part's median rate, and the receiver's rate over each prototype's, round by round."""
    receiver = rates["receiver"]
    lines = [
        f"Machine: {machine()}.",
        f"Command: `python -m bench.yardstick --runs {args.runs}` ({args.duration:g} s per run at "
        f"{args.connections} plain connections, after a 1 s warm-up; every part once per round).",
        "",
        "| server | signals/s, median (range) | receiver ÷ this, per round (median) | the receiver at the issue's "
        "28,000/s |",
        "| --- | --- | --- | --- |",
    ]
    for part, runs in rates.items():
        spread = f"{statistics.median(runs):,.0f} ({min(runs):,.0f}–{max(runs):,.0f})"
        if part == "receiver":
            lines.append(f"| receiver | {spread} | | |")
            continue
        ratios = [mine / theirs for theirs, mine in zip(runs, receiver, strict=True)]
        ratio = statistics.median(ratios)
        lines.append(
            f"| {part} | {spread} | {', '.join(f'{r:.2f}' for r in ratios)} ({ratio:.2f}) | {28_000 * ratio:,.0f}/s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_benchmark(main)

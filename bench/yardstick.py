"""The issue's bare prototype, run as a yardstick of the host's speed, in alternate runs with the receiver.

Issue 3 sets the receiver's floor (20,000 plain signals/s at 100 connections) against "a bare prototype of parse →
one batched INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING per batch → ACK after commit", which reached about
28,000/s with p99 6 ms on this machine. The machine is shared and its speed moves from day to day (in
bench/RESULTS.md, tcp-plain-1 has read from 1,550 to 2,000/s), so a figure taken on one day says little about
another. Running such a prototype and the receiver one after the other, several times, in one period says where
the receiver stands against it: the ratio carries over to the day the issue's figure was taken.

The prototype is not the receiver and stores nothing the receiver would trust: it checks the CRC, takes account,
sequence, timestamp and data with a regular expression, writes five columns under its own unique key (in a table
of its own, in a scratch database), answers a plain ACK after the commit and refuses nothing. One writer
connection; frames that arrive while a batch commits form the next. The load is the same as bench.ingest's
tcp-plain-100: the same client, 100 simulated plain panels, frames built before the clock starts.

    python -m bench.yardstick [--runs 5] [--duration 10] [--connections 100]
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
INSERT = """
INSERT INTO yardstick_signals (account, sequence, panel_time, data, raw_frame)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
ON CONFLICT DO NOTHING"""
MAX_EXPECTED_RATE = 40_000  # frames/s for all panels together: how many to build before a run


def plain_ack(sequence: bytes, receiver: bytes, line: bytes, account: bytes) -> bytes:
    body = b'"ACK"' + sequence + receiver + line + b"#" + account + b"[]"
    return b"\n%04X%04X%s\r" % (crc16_arc(body), len(body), body)


class Prototype:
    """Frames from every connection, written in one statement per batch, each answered after its commit."""

    def __init__(self) -> None:
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
            await connection.execute(INSERT, *rows)
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


async def serve(database_url: str, port: int) -> int:
    prototype = Prototype()
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: PrototypeConnection(prototype), "127.0.0.1", port, backlog=1024)
    await prototype.write(database_url)
    return 0


async def prototype_run(
    database_url: str, connections: int, duration: float
) -> tuple[Tally, float, int, dict[str, float]]:
    """One timed run of the prototype: tally, seconds, rows stored, CPU seconds of each part."""
    connection = await asyncpg.connect(database_url)
    await connection.execute("DROP TABLE IF EXISTS yardstick_signals")
    await connection.execute(TABLE)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.yardstick", "--serve", database_url, "--port", str(port)], cwd=REPO
    )
    try:
        await wait_for_port(port, cast(subprocess.Popen[bytes], server))
        panels = virtual_panels(connections, encrypted=False)
        await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=1.0)  # warm-up
        await connection.execute("TRUNCATE yardstick_signals")
        for panel in panels:
            panel.prepare(int(MAX_EXPECTED_RATE * duration / connections) + 10)

        started, before = time.perf_counter(), cpu_snapshot([server.pid])
        tally = await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=duration)
        seconds, after = time.perf_counter() - started, cpu_snapshot([server.pid])
        cpu = {part: after[part] - before[part] for part in before}
        rows = await connection.fetchval("SELECT count(*) FROM yardstick_signals")
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
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return await serve(args.serve, args.port)
    [scenario] = [s for s in SCENARIOS if s.name == "tcp-plain-100"]
    if args.connections != scenario.connections:
        from dataclasses import replace

        scenario = replace(scenario, name=f"tcp-plain-{args.connections}", connections=args.connections)
    url, embedded = server_url()
    name = f"alarmhub_yardstick_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    rates: dict[str, list[float]] = {"prototype": [], "receiver": []}
    ok = True
    try:
        connection = await asyncpg.connect(database_url)
        await migrate(connection)
        await connection.close()
        for run in range(args.runs):
            tally, seconds, rows, cpu = await prototype_run(database_url, args.connections, args.duration)
            rate, text = line("prototype", tally, seconds, rows, cpu)
            rates["prototype"].append(rate)
            ok &= rows == tally.acked
            print(f"run {run + 1} {text}", flush=True)
            result = await run_scenario(scenario, database_url, args.duration)
            rate, text = line("receiver", result.tally, result.seconds, result.rows, result.cpu)
            rates["receiver"].append(rate)
            ok &= result.rows == result.tally.acked
            print(f"run {run + 1} {text}", flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    prototype, receiver = (statistics.median(rates[part]) for part in ("prototype", "receiver"))
    ratios = [r / p for p, r in zip(rates["prototype"], rates["receiver"], strict=True)]
    print(
        f"\n{machine()}; {args.runs} alternate runs of {args.duration:g} s at {args.connections} plain connections\n"
        f"median prototype {prototype:,.0f}/s, receiver {receiver:,.0f}/s; receiver / prototype per pair: "
        + ", ".join(f"{ratio:.2f}" for ratio in ratios)
        + f"\nscaled to the issue's prototype figure (28,000/s): receiver ≈ {28_000 * statistics.median(ratios):,.0f}/s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_benchmark(main)

"""What the DC-09 load client itself costs: drive a canned-ACK uvloop server and count CPU per frame on each side.

The server runs in its own process and answers every frame (every ``\\r``) with one fixed, valid ACK frame: no
decoding, no database. The client is `receiver.simulator.client.run_panels` (or, with ``--client PATH``, the
`run_panels` of another copy of that module), driving 100 plain panels whose frames are built before the clock
starts, as `bench.ingest` does, after a 1 s warm-up. Printed: answered frames/s, p50, and user + system CPU µs
per answered frame of the client process (getrusage) and of the server process (/proc/<pid>/stat).

    python -m bench.client_floor [--connections 100] [--duration 5] [--runs 3] [--client PATH] [--against PATH]

``--against /tmp/old/client.py`` alternates runs of the project's client and that one against the same server,
so that a before/after comparison sees the same machine (other load on it moves both alike).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from receiver.dc09 import Envelope, ack, parse_envelope
from receiver.simulator.run import virtual_panels

REPO = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
FRAMES_PER_PANEL_BUILT = 20  # distinct frames per panel; the prepared queue repeats them (the server never looks)
MAX_RATE = 200_000  # frames/s the prepared queues must cover, so the client never encodes during the run


def canned_ack() -> bytes:
    """A valid plain ACK, built by the receiver's own helpers for a frame of a simulated panel."""
    panel = virtual_panels(1, encrypted=False)[0]
    envelope = parse_envelope(panel.next_frame())
    assert isinstance(envelope, Envelope), envelope
    return ack(envelope, None, datetime.now(UTC))


class CannedAck(asyncio.Protocol):
    answer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.write = transport.write  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        frames = data.count(b"\r")  # one \r ends each frame; a frame split across reads is answered at its end
        if frames:
            self.write(self.answer * frames)


async def serve() -> None:
    import uvloop

    CannedAck.answer = canned_ack()
    loop = asyncio.get_running_loop()
    assert isinstance(loop, uvloop.Loop)
    server = cast(asyncio.Server, await loop.create_server(CannedAck, "127.0.0.1", 0, backlog=1024))
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the driver closes our stdin


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_client(path: str | None, name: str = "client_under_test") -> ModuleType:
    if path is None:
        from receiver.simulator import client

        return client
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def one_run(run_panels: Callable[..., Awaitable[Any]], port: int, server_pid: int, args: Any) -> dict[str, float]:
    panels = virtual_panels(args.connections, encrypted=False)
    await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=1.0)  # warm-up
    per_panel = int(MAX_RATE * args.duration / args.connections) + 10
    for panel in panels:
        panel.prepared.clear()
        panel.prepare(FRAMES_PER_PANEL_BUILT)
        built = list(panel.prepared)
        panel.prepared.extend(built[index % len(built)] for index in range(per_panel))
    started, client_before, server_before = time.perf_counter(), self_cpu(), process_cpu(server_pid)
    tally = await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=args.duration)
    seconds = time.perf_counter() - started
    client_cpu, server_cpu = self_cpu() - client_before, process_cpu(server_pid) - server_before
    frames = max(tally.acked, 1)
    assert tally.acked == sum(tally.answers.values()), tally.answers
    assert all(panel.prepared for panel in panels), "a panel ran out of prepared frames: raise MAX_RATE"
    return {
        "rate": tally.acked / seconds,
        "p50_ms": tally.percentile(0.5) * 1000,
        "client_us": client_cpu / frames * 1e6,
        "server_us": server_cpu / frames * 1e6,
    }


def line(result: dict[str, float]) -> str:
    return (
        f"{result['rate']:,.0f} frames/s  p50 {result['p50_ms']:.2f} ms  "
        f"client {result['client_us']:.2f} µs/frame  server {result['server_us']:.2f} µs/frame"
    )


async def drive(args: Any) -> int:
    """Measure the client (and, with --against, another one in alternate runs, so both see the same machine)."""
    clients = [load_client(args.client)] + ([load_client(args.against, "client_against")] if args.against else [])
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.client_floor", "--serve"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    results: dict[str, list[dict[str, float]]] = {str(module.__file__): [] for module in clients}
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for run in range(args.runs):
            for module in clients:
                result = await one_run(module.run_panels, port, server.pid, args)
                results[str(module.__file__)].append(result)
                print(f"run {run + 1} {module.__file__}: {line(result)}", flush=True)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    print(f"median of {args.runs} runs ({args.connections} connections, {args.duration:g} s each):")
    for path, runs in results.items():
        print(f"  {path}: {line({key: statistics.median(run[key] for run in runs) for key in runs[0]})}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--client", help="path of another client.py to measure instead of the project's")
    parser.add_argument("--against", help="path of another client.py to measure in alternate runs, e.g. an old one")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve() if args.serve else drive(args)) or 0


if __name__ == "__main__":
    sys.exit(main())

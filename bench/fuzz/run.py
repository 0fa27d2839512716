"""A run: enrol the panels, start the receiver, drive every session, measure its memory, gather the checks."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.fuzz.checks import Check, evidence
from bench.fuzz.mqtt_session import MqttSession
from bench.fuzz.oracle import Oracle
from bench.fuzz.panels import MQTT_PANELS, enrolled_keys
from bench.fuzz.plan import Broker, FuzzPlan
from bench.fuzz.probes import log_findings, peak_rss, rss
from bench.fuzz.receiver_process import running_receiver
from bench.fuzz.session import FuzzRun, Session
from bench.fuzz.tally import Tally
from bench.fuzz.tcp_session import TcpSession
from bench.fuzz.udp_session import UdpSession
from receiver.simulator.enrol import enrol_simulated_panels


@dataclass
class Outcome:
    plan: FuzzPlan
    tally: Tally
    seconds: float
    rss: dict[str, int]  # start, warm (after the warm-up share), end, peak
    rss_samples: list[tuple[int, int]]  # (inputs sent so far, RSS) during the main part
    checks: list[Check]
    warnings: list[str] = field(default_factory=list)  # the receiver's warning lines
    broker: str | None = None

    @property
    def passed(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    @property
    def rate(self) -> float:
        return self.tally.sent / self.seconds if self.seconds else 0.0


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole shares."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def build_sessions(run: FuzzRun) -> list[tuple[Session, int]]:
    """Every session with its share of the frames."""
    plan = run.plan
    mqtt = min(plan.mqtt_sessions, len(MQTT_PANELS)) if run.broker is not None else 0
    tcp_share, udp_share, mqtt_share = plan.shares
    mqtt_share = mqtt_share if mqtt else 0.0
    whole = tcp_share + udp_share + mqtt_share
    mqtt_frames = round(plan.frames * mqtt_share / whole)
    udp_frames = round(plan.frames * udp_share / whole)
    sessions: list[tuple[Session, int]] = []
    for number, count in enumerate(split(plan.frames - mqtt_frames - udp_frames, plan.tcp_connections)):
        sessions.append((TcpSession(run, number), count))
    for number, count in enumerate(split(udp_frames, plan.udp_sockets)):
        sessions.append((UdpSession(run, number), count))
    for number, count in enumerate(split(mqtt_frames, mqtt) if mqtt else []):
        sessions.append((MqttSession(run, number, MQTT_PANELS[number]), count))
    return sessions


async def drive(sessions: Sequence[tuple[Session, int]]) -> float:
    """Every session sends its count, all at once; the seconds it took."""
    started = time.perf_counter()
    await asyncio.gather(*(session.send(count) for session, count in sessions if count))
    return time.perf_counter() - started


async def sample_rss(pid: int, tally: Tally, samples: list[tuple[int, int]], every: float = 2.0) -> None:
    while True:
        await asyncio.sleep(every)
        samples.append((tally.sent, rss(pid)))


async def fuzz(plan: FuzzPlan, database_url: str, broker: Broker | None) -> Outcome:
    """Enrol the panels, start the receiver, send everything, and check what it did."""
    connection = await asyncpg.connect(database_url)
    try:
        await enrol_simulated_panels(connection, enrolled_keys())
    finally:
        await connection.close()
    with tempfile.TemporaryDirectory(prefix="alarmhub-fuzz-") as directory:
        async with running_receiver(database_url, plan, broker, Path(directory)) as receiver:
            run = FuzzRun(plan, Oracle(enrolled_keys(), plan.max_frame_length), Tally(), receiver.port, broker)
            pid = receiver.process.pid
            sizes = {"start": rss(pid)}
            sessions = build_sessions(run)
            warm = [(session, math.ceil(count * plan.warmup)) for session, count in sessions]
            seconds = await drive(warm)
            sizes["warm"] = rss(pid)
            samples = [(run.tally.sent, sizes["warm"])]
            monitor = asyncio.create_task(sample_rss(pid, run.tally, samples))
            try:
                seconds += await drive(
                    [(session, count - done) for (session, count), (_, done) in zip(sessions, warm, strict=True)]
                )
            finally:
                monitor.cancel()
            await asyncio.sleep(1.5)  # the last batches commit and housekeeping writes the last rejections
            sizes |= {"end": rss(pid), "peak": peak_rss(pid)}
            checks = await evidence(run, receiver, database_url, sizes)
        warnings, errors = log_findings(receiver.log)
    status = receiver.process.returncode
    checks.append(("the receiver stopped cleanly on SIGTERM", status == 0, f"exit status {status}"))
    checks.append(("the receiver logged no error", not errors, "; ".join(errors[:3])[:600] or "none"))
    return Outcome(plan, run.tally, seconds, sizes, samples, checks, warnings, broker.url if broker else None)

"""Scenario (a): kill -9 of the `alarmhub receiver` process under TCP, UDP and MQTT load, started again each time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.fuzz import Broker
from bench.soak.checks import duplicates_check, message_rows, rows_check, stored_copies, stored_once_check
from bench.soak.load import enrol, soak_panels, tally_figure
from bench.soak.processes import AlarmhubProcess, ReceiverSetup, log_figure, receiver_ready
from bench.soak.report import Outcome
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.mqtt import run_mqtt_panels
from receiver.simulator.traffic import VirtualPanel


@dataclass(frozen=True, slots=True)
class KillPlan:
    kills: int = 10
    uptime: float = 3.0  # seconds of load between a restart and the next kill, at least
    pause: float = 0.3  # seconds the receiver stays dead
    restart_allowance: float = 3.0  # seconds a restart may take before the schedule slips
    tail: float = 5.0  # seconds of load after the last restart
    panels: tuple[int, int, int] = (10, 4, 4)  # TCP, UDP, MQTT
    rates: tuple[float, float, float] = (200.0, 40.0, 40.0)  # messages/s of each transport's panels together
    answer_timeouts: tuple[float, float, float] = (5.0, 3.0, 5.0)  # then the panel sends the frame again

    @property
    def cycle(self) -> float:
        return self.uptime + self.pause + self.restart_allowance

    @property
    def duration(self) -> float:
        return self.kills * self.cycle + self.tail


@dataclass
class Loads:
    tcp: Tally = field(default_factory=lambda: Tally(keep_frames=True))
    udp: Tally = field(default_factory=lambda: Tally(keep_frames=True))
    mqtt: Tally = field(default_factory=lambda: Tally(keep_frames=True))

    @property
    def acked(self) -> int:
        return self.tcp.acked + self.udp.acked + self.mqtt.acked


@dataclass
class Kill:
    acked_before: int  # by all panels, when the receiver was killed
    restart_seconds: float = 0.0  # from the kill until it listened and answered on MQTT again
    acked_after_restart: int = 0


async def drive(loads: Loads, panels: Sequence[list[VirtualPanel]], setup: ReceiverSetup, plan: KillPlan) -> None:
    """The three transports' panels for the plan's duration."""
    assert setup.mqtt is not None  # the panels' clients take its broker address (and ids of their own)
    tcp, udp, mqtt = panels
    (tcp_rate, udp_rate, mqtt_rate), (tcp_wait, udp_wait, mqtt_wait) = plan.rates, plan.answer_timeouts
    await asyncio.gather(
        run_panels(tcp, "127.0.0.1", setup.port, transport="tcp", duration=plan.duration, rate=tcp_rate,
                   answer_timeout=tcp_wait, reconnect=True, tally=loads.tcp),
        run_panels(udp, "127.0.0.1", setup.port, transport="udp", duration=plan.duration, rate=udp_rate,
                   answer_timeout=udp_wait, tally=loads.udp),
        run_mqtt_panels(mqtt, setup.mqtt, duration=plan.duration, rate=mqtt_rate, answer_timeout=mqtt_wait,
                        tally=loads.mqtt),
    )  # fmt: skip


async def kill_and_restart(receiver: AlarmhubProcess, setup: ReceiverSetup, plan: KillPlan, loads: Loads) -> list[Kill]:
    """Kill the receiver with SIGKILL on the plan's schedule and start it again at once, each time."""
    kills: list[Kill] = []
    started = ready_at = time.monotonic()
    for number in range(plan.kills):
        due = max(started + number * plan.cycle + plan.uptime, ready_at + plan.uptime)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        kill = Kill(acked_before=loads.acked)
        kills.append(kill)
        receiver.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(plan.pause)
        receiver.start()
        await receiver_ready(receiver, setup)
        ready_at = time.monotonic()
        kill.restart_seconds, kill.acked_after_restart = ready_at - killed_at, loads.acked
    return kills


def windows(kills: Sequence[Kill], first: int, last: int) -> list[int]:
    """Acknowledgements from the start to the first kill, between each restart and the next kill, after the last."""
    starts = [first, *(kill.acked_after_restart for kill in kills)]
    ends = [*(kill.acked_before for kill in kills), last]
    return [end - start for start, end in zip(starts, ends, strict=True)]


async def receiver_kills(database_url: str, directory: Path, broker: Broker, plan: KillPlan) -> Outcome:
    """Scenario (a): kill -9 of the receiver under TCP, UDP and MQTT load, `plan.kills` times."""
    outcome = Outcome(f"kill -9 of the receiver under load, {plan.kills} times")
    panels = [
        soak_panels("5A", plan.panels[0], encrypted=True),
        soak_panels("5B", plan.panels[1], encrypted=True),
        soak_panels("5C", plan.panels[2], encrypted=False),  # JSON events: a keyed account refuses them
    ]
    await enrol(database_url, [panel for group in panels for panel in group])
    setup = ReceiverSetup(database_url, directory, broker)
    receiver, loads, kills, failure = setup.process(), Loads(), list[Kill](), ""
    started = time.monotonic()
    receiver.start()
    try:
        await receiver_ready(receiver, setup)
        first = loads.acked
        load = asyncio.create_task(drive(loads, panels, setup, plan))
        try:
            kills = await kill_and_restart(receiver, setup, plan, loads)
        except RuntimeError as error:  # it did not come back: the panels time out until the load ends
            failure = str(error)
        await load
        alive = receiver.alive
    finally:
        receiver.stop()
    outcome.seconds = time.monotonic() - started
    restarts = sorted(kill.restart_seconds for kill in kills if kill.restart_seconds)
    outcome.figures += [
        f"{len(kills)} kills in {outcome.seconds:.0f} s; a restart (kill to listening and answering on MQTT again) "
        f"took {restarts[0]:.1f}–{restarts[-1]:.1f} s"
        if restarts
        else f"{len(kills)} kills",
        *(tally_figure(name, tally) for name, tally in (("TCP", loads.tcp), ("UDP", loads.udp), ("MQTT", loads.mqtt))),
        log_figure("receiver", receiver),
    ]
    came_back = len([kill for kill in kills if kill.restart_seconds]) == plan.kills and alive
    outcome.check("the receiver came back after every kill", came_back, failure or f"{len(kills)} of {plan.kills}")
    acked = windows(kills, first, loads.acked)
    outcome.check(
        "load acknowledged between every two kills",
        min(acked) > 0,
        f"{min(acked):,}–{max(acked):,} acknowledgements per window, {len(acked)} windows",
    )
    stored = await stored_copies(database_url)
    for name, tally in (("TCP", loads.tcp), ("UDP", loads.udp), ("MQTT", loads.mqtt)):
        outcome.checks.append(stored_once_check(name, tally, stored))
    outcome.checks.append(rows_check(await message_rows(database_url, panels[2])))
    outcome.checks.append(duplicates_check(stored))
    return outcome

"""Scenario (b): the receiver's MQTT broker (a persistent Mosquitto) stopped and started again mid-load."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from bench.fuzz import MOSQUITTO_SETTINGS, Broker
from bench.ingest import free_port, wait_for_port
from bench.ingest_mqtt import wait_subscribed
from bench.soak.checks import duplicates_check, message_rows, rows_check, stored_copies, stored_once_check
from bench.soak.load import enrol, soak_panels, tally_figure
from bench.soak.processes import AlarmhubProcess, ReceiverSetup, log_figure, receiver_ready
from bench.soak.report import Outcome
from receiver.simulator.client import Tally
from receiver.simulator.mqtt import MqttVirtualPanel, run_mqtt_panels
from receiver.simulator.traffic import VirtualPanel
from receiver.transports.mqtt import TOPIC_ROOT, MqttSettings, connect_client


@dataclass(frozen=True, slots=True)
class BrokerPlan:
    restarts: int = 2
    round_seconds: float = 8.0  # the broker stops a second before a round's panels stop
    down: float = 2.0  # seconds the broker stays stopped
    panels: int = 6
    rate: float = 60.0
    answer_timeout: float = 3.0
    backlog: int = 200  # messages the broker takes for the paused receiver before each stop


class PersistentMosquitto:
    """A Mosquitto of the run's own that keeps sessions and queued messages on disk, stopped and started again on
    one port (bench.fuzz.own_mosquitto's settings, persistence on)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = directory / "mosquitto-persistent.conf"
        # Started by root, Mosquitto would run as its own user, who cannot write its file in the run's directory.
        user = pwd.getpwuid(os.getuid()).pw_name
        persistence = f"persistence true\npersistence_location {directory}/\nuser {user}"
        settings = MOSQUITTO_SETTINGS.replace("persistence false", persistence)
        self.config.write_text(f"listener {self.port} 127.0.0.1\n{settings}")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def broker(self) -> Broker:
        return Broker(f"mqtt://127.0.0.1:{self.port}")

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await wait_for_port(self.port, self.process)

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file as it exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@asynccontextmanager
async def persistent_mosquitto(directory: Path) -> AsyncIterator[PersistentMosquitto | None]:
    binary = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
    if binary is None:
        yield None
        return
    mosquitto = PersistentMosquitto(binary, directory)
    await mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@dataclass
class Round:
    acked: int  # messages answered during the round
    back_after: float | None = None  # seconds from the broker's stop until the receiver answered again


@dataclass
class BrokerRun:
    mosquitto: PersistentMosquitto
    receiver: AlarmhubProcess
    settings: MqttSettings  # the receiver's
    plan: BrokerPlan
    backlog: MqttVirtualPanel  # publishes while the receiver is paused
    tally: Tally = field(default_factory=lambda: Tally(keep_frames=True))


async def restart_rounds(run: BrokerRun, panels: list[VirtualPanel]) -> list[Round]:
    """Rounds of MQTT load; the broker is stopped and started again near the end of each but the last."""
    plan, rounds = run.plan, []
    for number in range(plan.restarts + 1):
        before = run.tally.acked
        load = asyncio.create_task(
            run_mqtt_panels(
                panels, run.settings, duration=plan.round_seconds, rate=plan.rate, answer_timeout=plan.answer_timeout,
                tally=run.tally,
            )
        )  # fmt: skip
        back_after = None
        if number < plan.restarts:
            await asyncio.sleep(plan.round_seconds - 1.0)
            back_after = await restart_broker(run)
        with suppress(aiomqtt.MqttError, TimeoutError):  # the panels' connections went with the broker
            await load
        rounds.append(Round(run.tally.acked - before, back_after))
    return rounds


async def restart_broker(run: BrokerRun) -> float | None:
    """With the receiver paused (SIGSTOP), the broker takes a backlog for its session; then it is stopped and
    started again after `down` s, and the receiver resumed. Seconds from the stop until the receiver answers again
    (None: it did not)."""
    process = run.receiver.running
    process.send_signal(signal.SIGSTOP)
    try:
        await publish_backlog(run.settings, run.backlog, run.plan.backlog)
        run.mosquitto.stop()
        stopped = time.monotonic()
        await asyncio.sleep(run.plan.down)
        await run.mosquitto.start()
    finally:
        process.send_signal(signal.SIGCONT)
    try:
        await wait_subscribed(run.settings, process, limit=60)
    except RuntimeError:
        return None
    return time.monotonic() - stopped


async def publish_backlog(settings: MqttSettings, panel: MqttVirtualPanel, count: int) -> None:
    """`count` JSON events with QoS 1, each acknowledged by the broker (aiomqtt waits for the PUBACK)."""
    async with connect_client(
        settings, client_id=f"alarmhub-soak-backlog-{secrets.token_hex(4)}", clean=True
    ) as client:
        for _ in range(count):
            await client.publish(f"{TOPIC_ROOT}/{panel.account}/events", panel.next_event(), qos=1)


def ignore_lost_clients(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """The panels' clients lose their broker on purpose: aiomqtt's futures then hold an error nobody reads."""
    if not isinstance(context.get("exception"), aiomqtt.MqttError):
        loop.default_exception_handler(context)


async def broker_restarts(database_url: str, directory: Path, plan: BrokerPlan) -> Outcome:
    """Scenario (b): the receiver's broker stopped and started again mid-load, `plan.restarts` times."""
    outcome = Outcome(f"the MQTT broker restarted mid-load, {plan.restarts} times")
    panels, backlog = soak_panels("5D", plan.panels, encrypted=False), soak_panels("5F", 1, encrypted=False)
    await enrol(database_url, panels + backlog)
    started, loop = time.monotonic(), asyncio.get_running_loop()
    async with persistent_mosquitto(directory) as mosquitto:
        if mosquitto is None:
            outcome.check("a mosquitto binary to run", False, "none found")
            return outcome
        setup = ReceiverSetup(database_url, directory, mosquitto.broker)
        assert setup.mqtt is not None
        run = BrokerRun(mosquitto, setup.process(), setup.mqtt, plan, MqttVirtualPanel(backlog[0]))
        pid = run.receiver.start().pid
        loop.set_exception_handler(ignore_lost_clients)
        try:
            await receiver_ready(run.receiver, setup)
            rounds = await restart_rounds(run, panels)
            alive = run.receiver.alive and run.receiver.running.pid == pid
        finally:
            loop.set_exception_handler(None)
            run.receiver.stop()
    outcome.seconds = time.monotonic() - started
    broker_figures(outcome, run, rounds)
    stored = await stored_copies(database_url)
    back = [r.back_after for r in rounds[:-1]]
    outcome.check(
        "the receiver answered again after every broker start, with no restart of its own",
        None not in back and alive,
        ", ".join("never" if b is None else f"{b:.1f} s after the stop" for b in back) + f"; same process: {alive}",
    )
    outcome.check(
        "messages acknowledged in every round",
        min(r.acked for r in rounds) > 0,
        ", ".join(f"{r.acked:,}" for r in rounds),
    )
    outcome.checks.append(stored_once_check("MQTT", run.tally, stored))
    outcome.checks.append(rows_check(await message_rows(database_url, panels)))
    taken, (rows, distinct, _) = plan.backlog * plan.restarts, await message_rows(database_url, backlog)
    outcome.check(
        "every message the broker took for the paused receiver stored once, after the broker's restart",
        rows == distinct == taken,
        f"{taken:,} acknowledged by the broker, {distinct:,} stored, {rows - distinct:,} twice",
    )
    outcome.checks.append(duplicates_check(stored))
    return outcome


def broker_figures(outcome: Outcome, run: BrokerRun, rounds: Sequence[Round]) -> None:
    plan = run.plan
    outcome.figures += [
        f"{plan.restarts} broker restarts ({plan.down:g} s down each) in {outcome.seconds:.0f} s; {plan.panels} panels "
        f"at {plan.rate:g} messages/s, a new round of panel clients after each start (the simulator's do not "
        f"reconnect); before each stop, the receiver paused (SIGSTOP) while the broker took {plan.backlog} messages "
        f"for its session",
        tally_figure("MQTT", run.tally) + f"; per round: {', '.join(f'{r.acked:,}' for r in rounds)}",
        log_figure("receiver", run.receiver),
    ]

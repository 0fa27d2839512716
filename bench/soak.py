"""Faults, scripted and repeatable (`make soak`): real processes killed and restarted under load, then checked.

    python -m bench.soak [--kills 10] [--scenario NAME ...] [--write]

Each scenario runs on a fresh database (ALARMHUB_BENCH_DATABASE_URL or ALARMHUB_TEST_DATABASE_URL, otherwise an
embedded PostgreSQL) and prints its figures and checks; --write puts them in bench/RESULTS.md; the exit status is 1
when a check failed.

- receiver-kills: an `alarmhub receiver` process takes a sustained load from simulated panels over TCP, UDP and
  MQTT (QoS 1, on a Mosquitto of the run's own, so that no other receiver shares the topics) and is killed with
  SIGKILL --kills times, each time started again at once. Panels do what real ones do: TCP reconnects and sends
  the unanswered frame again, UDP and MQTT send it again after the answer timeout; the broker keeps the receiver's
  persistent session meanwhile. Afterwards every acknowledged frame and message is in signals exactly once.
- broker-restarts: the receiver's Mosquitto (persistence on, so the persistent session outlives it) is stopped and
  started again on the same port mid-load; the receiver reconnects and answers again by itself (no restart), and
  every acknowledged message is stored once. Just before each stop the receiver is paused (SIGSTOP) while the broker
  takes messages for its session: each of those must be stored once after the restart. Panel-side clients do not
  reconnect (the simulator's do not), so each broker start begins a new round of them.
- worker-kills: two `alarmhub worker` processes run the billing cycle and autopay for customers enrolled with a
  fee and autopay (the sandbox gateway), deliver the outbox (mail the soak queued, the receipts, the incident mails)
  to an SMTP server the soak runs, and open incidents from the alarms a receiver stores; a job's leader is killed
  with SIGKILL while its work is under way, and a fresh worker takes the killed one's place as the standby. At the
  end every customer has one invoice and one charge, every mail arrived (by Message-ID), and every alarm is in
  exactly one incident.
- database-outage: an embedded PostgreSQL of the scenario's own (pgserver) is stopped for 30 s under TCP load and
  started again: nothing is acknowledged meanwhile, the receiver takes the load again by itself, and every
  acknowledged frame is stored once (as tests/receiver/test_faults.py, with a receiver process and a longer outage).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import asyncpg

from bench.billing import _LOAD as LOAD_AUTOPAY_CUSTOMERS
from bench.fuzz import (
    MOSQUITTO_SETTINGS,
    Broker,
    Check,
    FuzzPlan,
    log_findings,
    own_mosquitto,
    receiver_environment,
)
from bench.ingest import (
    REPO,
    create_migrated_database,
    free_port,
    machine,
    migrated_database,
    server_url,
    wait_for_port,
    write_results,
)
from bench.ingest_mqtt import wait_subscribed
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.mqtt import MqttVirtualPanel, run_mqtt_panels
from receiver.simulator.traffic import VirtualPanel, panel_accounts, simulator_key
from receiver.transports.mqtt import TOPIC_ROOT, MqttSettings, connect_client
from shared.billing.cycle import current_period
from shared.billing.sandbox import SANDBOX_CARDS
from shared.config import load_config
from shared.enrolment import create_customer
from shared.logs import configure_logging
from shared.outbox import Mail, enqueue_mail
from tests.portal.smtp import Inbox, smtp_server
from tests.receiver.test_faults import start_again

SCENARIOS = ("receiver-kills", "broker-restarts", "worker-kills", "database-outage")
Figures = list[str]


@dataclass
class Outcome:
    """One scenario's result: what it did (figures, sentences) and what it checked."""

    title: str
    seconds: float = 0.0
    figures: Figures = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def check(self, what: str, passed: bool, figures: str) -> None:
        self.checks.append((what, passed, figures))


# -- processes


class AlarmhubProcess:
    """`alarmhub <command>` in a process of its own, its output appended to a log; killed, stopped, started again."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.command = command
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alarmhub", self.command], cwd=REPO, env=self.env, stdout=output, stderr=output
            )
        return self.process

    @property
    def running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"alarmhub {self.command} was not started")
        return self.process

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        self.running.send_signal(signal.SIGKILL)
        self.running.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive:
            return
        self.running.terminate()
        try:
            self.running.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.running.kill()
            self.running.wait()

    def errors(self) -> list[str]:
        return log_findings(self.log)[1] if self.log.exists() else []


def base_environment(database_url: str, directory: Path) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_LOG_LEVEL": "warning",
        "ALARMHUB_LOG_FORMAT": "json",
        "ALARMHUB_MQTT_URL": "",
        "ALARMHUB_PATHS_VAR_DIR": str(directory),
    }


@dataclass(frozen=True, slots=True)
class ReceiverSetup:
    database_url: str
    directory: Path
    broker: Broker | None = None
    port: int = field(default_factory=free_port)
    # The receiver's MQTT settings (its client id: its persistent session, kept across restarts); None: no broker.
    mqtt: MqttSettings | None = field(init=False)

    def __post_init__(self) -> None:
        client_id = f"alarmhub-soak-receiver-{secrets.token_hex(4)}"
        object.__setattr__(self, "mqtt", self.broker.settings(client_id) if self.broker is not None else None)

    def process(self) -> AlarmhubProcess:
        env = base_environment(self.database_url, self.directory)
        env |= receiver_environment(self.database_url, FuzzPlan(), self.port, free_port())
        if self.mqtt is not None and self.broker is not None:
            env |= {
                "ALARMHUB_MQTT_URL": self.broker.url,
                "ALARMHUB_MQTT_CLIENT_ID": self.mqtt.client_id,
                "ALARMHUB_MQTT_SHARED_GROUP": self.mqtt.shared_group or "",
                "ALARMHUB_MQTT_PROTOCOL": "5",
            }
        return AlarmhubProcess("receiver", env, self.directory / "receiver.log")


async def receiver_ready(receiver: AlarmhubProcess, setup: ReceiverSetup, limit: float = 30) -> None:
    """Until the receiver listens on its DC-09 port and (with a broker) answers on MQTT."""
    await wait_for_port(setup.port, receiver.running, limit=limit)
    if setup.mqtt is not None:
        await wait_subscribed(setup.mqtt, receiver.running, limit=limit)


def soak_panels(prefix: str, count: int, *, encrypted: bool) -> list[VirtualPanel]:
    """Virtual panels with accounts of their own (prefix); with `encrypted`, every other one has an AES key."""
    accounts = panel_accounts(count, prefix)
    return [
        VirtualPanel(account, simulator_key(account) if encrypted and number % 2 else None)
        for number, account in enumerate(accounts)
    ]


async def enrol(database_url: str, panels: Sequence[VirtualPanel]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await enrol_simulated_panels(connection, {panel.account: panel.key for panel in panels})
    finally:
        await connection.close()


# -- what is stored


async def stored_copies(database_url: str) -> Counter[bytes]:
    """Every raw frame (or MQTT payload) in signals, with its number of rows."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT raw_frame, count(*) AS copies FROM signals GROUP BY raw_frame")
    finally:
        await connection.close()
    return Counter({bytes(row["raw_frame"]): row["copies"] for row in rows})


def stored_once_check(transport: str, tally: Tally, stored: Counter[bytes]) -> Check:
    """Every frame the panels saw acknowledged is stored, and none twice."""
    acked = set(tally.acked_frames)
    missing = [frame for frame in acked if frame not in stored]
    twice = [frame for frame in acked if stored[frame] > 1]
    figures = f"{len(acked):,} acknowledged, {len(missing):,} missing, {len(twice):,} stored twice"
    if missing:
        figures += f" (first missing: {missing[0][:80]!r})"
    return f"{transport}: every acknowledged frame stored once", not missing and not twice, figures


async def message_rows(database_url: str, panels: Sequence[VirtualPanel]) -> tuple[int, int, int]:
    """(rows, distinct messages, rows that came over MQTT) of these panels' accounts, as
    tests/receiver/test_mqtt_faults.py counts: a message is its account, sequence and panel time."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*), count(DISTINCT (account, sequence, panel_time)),"
            " count(*) FILTER (WHERE transport = 'mqtt') FROM signals WHERE account = ANY($1)",
            [panel.account for panel in panels],
        )
    finally:
        await connection.close()
    assert row is not None
    return row[0], row[1], row[2]


def rows_check(rows: tuple[int, int, int]) -> Check:
    stored, distinct, mqtt = rows
    return "MQTT: one row per message", stored == distinct == mqtt, f"{stored:,} rows, {distinct:,} messages"


def duplicates_check(stored: Counter[bytes]) -> Check:
    twice = sum(1 for copies in stored.values() if copies > 1)
    return "no frame stored twice (all signals)", twice == 0, f"{sum(stored.values()):,} rows, {twice:,} repeated"


def tally_figure(transport: str, tally: Tally) -> str:
    return (
        f"{transport}: {tally.sent:,} sent, {tally.acked:,} acknowledged, {tally.timeouts:,} answer timeouts, "
        f"{tally.reconnects:,} reconnects"
    )


# -- (a) kill -9 of the receiver under load


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


def log_figure(name: str, process: AlarmhubProcess) -> str:
    errors = process.errors()
    first = f" (first: `{errors[0][:200]}`)" if errors else ""
    return f"{name} log: {len(errors)} error lines{first}"


# -- (b) the MQTT broker restarted mid-load


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


# -- (c) the worker killed while it runs its jobs


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    customers: int = 1000  # with a monthly fee and autopay: an invoice, a charge and a receipt each
    mails: int = 1000  # queued in the outbox by the soak
    premises: int = 12  # panels, each its own customer's premises, alarms among their traffic
    rate: float = 60.0  # their messages/s together
    load_seconds: float = 30.0
    kills: tuple[str, ...] = ("autopay", "outbox", "incident-opener")  # whose worker is killed, in this order
    limit: float = 240.0  # seconds for everything to be done
    fee: Decimal = Decimal("39.99")


PROGRESS = """
    SELECT (SELECT count(*) FROM invoices WHERE period = $1) AS invoices,
           (SELECT count(*) FROM sandbox_charges) AS charges,
           (SELECT count(*) FROM autopay_drafts WHERE status = 'paid') AS paid,
           (SELECT count(*) FROM billing_notices) AS notices,
           (SELECT count(*) FROM outbox) AS mails,
           (SELECT count(*) FROM outbox WHERE status = 'sent') AS sent,
           (SELECT count(*) FROM outbox WHERE status = 'pending') AS pending,
           (SELECT count(*) FROM signals WHERE category = 'alarm' AND qualifier = 'event') AS alarms,
           (SELECT count(*) FROM signals s WHERE category = 'alarm' AND qualifier = 'event'
               AND NOT EXISTS (SELECT 1 FROM incident_signals i WHERE i.signal_id = s.id)) AS unhandled
"""

# When each kill's work is under way: autopay charging, the outbox delivering, the opener following alarms.
UNDER_WAY: dict[str, Callable[[asyncpg.Record, WorkerPlan], bool]] = {
    "autopay": lambda p, plan: plan.customers // 4 <= p["charges"] < plan.customers,
    "outbox": lambda p, plan: p["sent"] > 0 and p["pending"] > 0,
    "incident-opener": lambda p, plan: p["alarms"] >= 20 and p["unhandled"] < p["alarms"],
}
_OUTBOX_ID = re.compile(r"<outbox-(\d+)\.")


@dataclass
class WorkerKill:
    job: str
    under_way: str  # what was going on at the kill
    in_progress: bool
    takeover: float | None = None  # seconds until another worker led the job (None: it did not)


class Workers:
    """The `alarmhub worker` processes, by pid (job_leaders names its holder host:pid); a killed one is replaced."""

    def __init__(self, database_url: str, directory: Path, smtp_port: int) -> None:
        self.env = base_environment(database_url, directory) | {
            "ALARMHUB_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "ALARMHUB_EMAIL_POLL_INTERVAL": "0.2",
            "ALARMHUB_WORKER_BILLING_INTERVAL": "1",
            "ALARMHUB_WORKER_AUTOPAY_INTERVAL": "1",
            "ALARMHUB_DATABASE_POOL_MIN_SIZE": "1",
        }
        self.directory = directory
        self.by_pid: dict[int, AlarmhubProcess] = {}
        self.started = 0

    def start(self) -> None:
        self.started += 1
        worker = AlarmhubProcess("worker", self.env, self.directory / f"worker-{self.started}.log")
        self.by_pid[worker.start().pid] = worker

    def live(self) -> list[int]:
        return [pid for pid, worker in self.by_pid.items() if worker.alive]

    def stop(self) -> None:
        for worker in self.by_pid.values():
            worker.stop()

    def errors(self) -> list[str]:
        return [line for worker in self.by_pid.values() for line in worker.errors()]


async def leader(connection: asyncpg.Connection, job: str) -> int | None:
    holder = await connection.fetchval("SELECT holder FROM job_leaders WHERE job = $1", job)
    return int(holder.rsplit(":", 1)[1]) if holder else None


async def victim(connection: asyncpg.Connection, job: str, workers: Workers) -> int | None:
    """The live worker to kill for `job`: its leader, or for the outbox (every worker sends) the oldest."""
    if job == "outbox":
        return min(workers.live(), default=None)
    pid = await leader(connection, job)
    return pid if pid in workers.live() else None


async def kill_under_way(
    connection: asyncpg.Connection, job: str, workers: Workers, plan: WorkerPlan, period: date
) -> WorkerKill:
    """Wait (up to a minute) until `job`'s work is under way, kill its worker, start a standby in its place."""
    waited = time.monotonic()
    while True:
        progress = await one_row(connection, PROGRESS, period)
        pid = await victim(connection, job, workers)
        under_way = UNDER_WAY[job](progress, plan)
        if pid is not None and (under_way or time.monotonic() - waited > 60):
            break
        if time.monotonic() - waited > 120:
            raise RuntimeError(f"no live worker leads {job}")
        await asyncio.sleep(0.01)
    workers.by_pid[pid].kill()
    killed_at = time.monotonic()
    workers.start()
    figures = (
        f"{progress['charges']:,} of {plan.customers:,} charged, {progress['sent']:,} mails sent and "
        f"{progress['pending']:,} pending, {progress['alarms']:,} alarms stored"
    )
    kill = WorkerKill(job, figures, under_way)
    if job != "outbox":
        while time.monotonic() - killed_at < 30 and (holder := await leader(connection, job)) in (pid, None):
            await asyncio.sleep(0.05)
        if holder not in (pid, None):
            kill.takeover = time.monotonic() - killed_at
    return kill


async def enrol_worker_load(database_url: str, panels: Sequence[VirtualPanel], plan: WorkerPlan, period: date) -> None:
    """The premises (a customer each), the customers billed and drafted by autopay, the mail queued."""
    connection = await asyncpg.connect(database_url)
    try:
        for number, panel in enumerate(panels):
            await create_customer(
                connection, name=f"Premises {number}", email=f"owner-{number}@example.com", password=None,
                account=panel.account, address=f"{number} Soak Street",
            )  # fmt: skip
        # bench.billing's bulk load: customers with a fee, a sandbox 4242 card and autopay on the 1st, from now
        behaviour = SANDBOX_CARDS["4242424242424242"]
        await connection.execute(LOAD_AUTOPAY_CUSTOMERS, plan.customers, plan.fee, behaviour, 1, period)
        async with connection.transaction():
            for number in range(plan.mails):
                mail = Mail(f"soak-{number}@example.com", f"Soak mail {number}", f"Mail {number} of the soak.")
                await enqueue_mail(connection, mail)
    finally:
        await connection.close()


async def alarm_load(database_url: str, panels: list[VirtualPanel], port: int, plan: WorkerPlan, tally: Tally) -> None:
    """The premises' traffic, once the incident opener has its cursor: it follows the signals stored from then on
    (a first start leaves older ones alone)."""
    connection = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(60):
            while not await connection.fetchval("SELECT count(*) FROM job_cursors WHERE job = 'incident-opener'"):
                await asyncio.sleep(0.1)
    finally:
        await connection.close()
    await run_panels(
        panels, "127.0.0.1", port, transport="tcp", duration=plan.load_seconds, rate=plan.rate, tally=tally
    )


async def one_row(connection: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    row: asyncpg.Record | None = await connection.fetchrow(query, *args)
    assert row is not None, query
    return row


def done(progress: asyncpg.Record, plan: WorkerPlan, inbox: Inbox) -> bool:
    return bool(
        progress["paid"] >= plan.customers
        and progress["notices"] == 0
        and progress["pending"] == 0
        and progress["unhandled"] == 0
        and len(inbox.messages) >= progress["mails"]
    )


async def settle(connection: asyncpg.Connection, plan: WorkerPlan, inbox: Inbox, period: date) -> float:
    """Seconds until everything is done (or the plan's limit)."""
    started = time.monotonic()
    while time.monotonic() - started < plan.limit:
        if done(await one_row(connection, PROGRESS, period), plan, inbox):
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def worker_kills(database_url: str, directory: Path, plan: WorkerPlan) -> Outcome:
    """Scenario (c): the worker killed with SIGKILL while it runs its jobs, once per `plan.kills`."""
    outcome = Outcome(f"the worker killed mid-job, {len(plan.kills)} times")
    period = current_period(datetime.now(UTC), load_config(None, environ={})["portal.timezone"])
    panels = soak_panels("5E", plan.premises, encrypted=False)
    await enrol_worker_load(database_url, panels, plan, period)
    setup, smtp_port, started = ReceiverSetup(database_url, directory), free_port(), time.monotonic()
    receiver, tally, kills, load = setup.process(), Tally(), list[WorkerKill](), None
    with smtp_server(smtp_port) as inbox:
        workers = Workers(database_url, directory, smtp_port)
        connection = await asyncpg.connect(database_url)
        try:
            receiver.start()
            workers.start()
            workers.start()
            await receiver_ready(receiver, setup)
            load = asyncio.create_task(alarm_load(database_url, panels, setup.port, plan, tally))
            for job in plan.kills:
                kills.append(await kill_under_way(connection, job, workers, plan, period))
            await load
            settled = await settle(connection, plan, inbox, period)
            outcome.checks += await worker_checks(connection, plan, inbox, period)
        finally:
            if load is not None and not load.done():
                load.cancel()
            await connection.close()
            workers.stop()
            receiver.stop()
    outcome.seconds = time.monotonic() - started
    outcome.figures += [
        f"{plan.customers:,} customers with a fee and autopay, {plan.mails:,} mails queued, {plan.premises} premises "
        f"sending {tally.acked:,} signals in {plan.load_seconds:g} s; two workers, {workers.started} started in all; "
        f"done {settled:.0f} s after the load",
        *(
            f"killed {'a worker delivering mail' if k.job == 'outbox' else f'the {k.job} leader'}: {k.under_way}"
            for k in kills
        ),
        f"workers' logs: {len(workers.errors())} error lines"
        + (f" (first: `{workers.errors()[0][:200]}`)" if workers.errors() else ""),
    ]
    outcome.check(
        "every kill came while its job's work was under way",
        all(k.in_progress for k in kills),
        "; ".join(f"{k.job}: {'yes' if k.in_progress else 'NO'}" for k in kills),
    )
    led = [k for k in kills if k.job != "outbox"]
    outcome.check(
        "the standby took over each killed leader's job",
        all(k.takeover is not None for k in led),
        "; ".join(f"{k.job} in {k.takeover:.1f} s" if k.takeover else f"{k.job}: never" for k in led),
    )
    return outcome


async def worker_checks(connection: asyncpg.Connection, plan: WorkerPlan, inbox: Inbox, period: date) -> list[Check]:
    """Nothing done twice, nothing skipped: invoices, charges, mails, incidents."""
    return [
        await invoices_check(connection, period),
        await charges_check(connection, plan),
        await mails_check(connection, inbox),
        await incidents_check(connection),
    ]


async def invoices_check(connection: asyncpg.Connection, period: date) -> Check:
    row = await one_row(
        connection,
        """SELECT count(*) AS customers, count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n = 0) AS none,
                  count(*) FILTER (WHERE n > 1) AS twice
             FROM (SELECT c.id, (SELECT count(*) FROM invoices i WHERE i.customer_id = c.id AND i.period = $1) AS n
                     FROM customers c WHERE c.monthly_fee > 0) per_customer""",
        period,
    )
    figures = f"{row['customers']:,} customers with a fee: {row['once']:,} invoiced once, {row['none']:,} not, "
    figures += f"{row['twice']:,} more than once"
    return "each invoice issued once", row["once"] == row["customers"], figures


async def charges_check(connection: asyncpg.Connection, plan: WorkerPlan) -> Check:
    row = await one_row(
        connection,
        """SELECT (SELECT count(*) FROM sandbox_charges) AS charges,
                  (SELECT count(DISTINCT token) FROM sandbox_charges) AS cards,
                  (SELECT count(*) FROM payments WHERE status = 'succeeded') AS succeeded,
                  (SELECT count(*) FROM autopay_drafts WHERE status = 'paid') AS paid""",
    )
    passed = row["charges"] == row["cards"] == row["succeeded"] == row["paid"] == plan.customers
    figures = f"{plan.customers:,} autopay customers: {row['charges']:,} sandbox charges on {row['cards']:,} cards, "
    figures += f"{row['succeeded']:,} payments succeeded, {row['paid']:,} drafts paid"
    return "each autopay charged once", passed, figures


async def mails_check(connection: asyncpg.Connection, inbox: Inbox) -> Check:
    """Every outbox row arrived at the SMTP server, known by its Message-ID; a repeat is at most the one mail a killed
    worker had in flight (the outbox delivers at least once: a kill between the server's 250 and the commit)."""
    queued = {row["id"]: row["status"] for row in await connection.fetch("SELECT id, status FROM outbox")}
    received = Counter(
        int(match[1]) for message in inbox.messages if (match := _OUTBOX_ID.match(str(message["Message-ID"])))
    )
    missing = [outbox_id for outbox_id in queued if outbox_id not in received]
    repeated = {outbox_id: copies for outbox_id, copies in received.items() if copies > 1}
    unsent = sum(1 for status in queued.values() if status != "sent")
    figures = f"{len(queued):,} mails in the outbox, {len(inbox.messages):,} received: {len(missing):,} missing, "
    figures += (
        f"{len(repeated):,} received more than once{f' (outbox ids {sorted(repeated)[:5]})' if repeated else ''}, "
    )
    figures += f"{unsent:,} not marked sent"
    return "each mail delivered once", not missing and not repeated and not unsent, figures


async def incidents_check(connection: asyncpg.Connection) -> Check:
    row = await one_row(
        connection,
        """SELECT count(*) AS alarms, count(*) FILTER (WHERE n = 0) AS none, count(*) FILTER (WHERE n > 1) AS twice,
                  (SELECT count(*) FROM (SELECT detail ->> 'signal_id' FROM incident_actions
                                          WHERE kind IN ('opened', 'signal') GROUP BY 1 HAVING count(*) > 1) a)
                      AS audited_twice,
                  (SELECT count(*) FROM incidents) AS incidents
             FROM (SELECT (SELECT count(*) FROM incident_signals i WHERE i.signal_id = s.id) AS n
                     FROM signals s WHERE s.category = 'alarm' AND s.qualifier = 'event') per_alarm""",
    )
    passed = row["alarms"] > 0 and row["none"] == row["twice"] == row["audited_twice"] == 0
    figures = f"{row['alarms']:,} alarms in {row['incidents']:,} incidents: {row['none']:,} in none, "
    figures += f"{row['twice']:,} in two, {row['audited_twice']:,} written twice in the audit trail"
    return "each alarm in exactly one incident", passed, figures


# -- (d) PostgreSQL stopped mid-load


@dataclass(frozen=True, slots=True)
class OutagePlan:
    down: float = 30.0  # seconds PostgreSQL stays stopped
    before: float = 5.0  # seconds of load before the stop
    after: float = 10.0  # and after the start
    panels: int = 10
    rate: float = 200.0
    answer_timeout: float = 3.0


@dataclass
class Outage:
    at_stop: int = 0  # acknowledgements when PostgreSQL stopped
    while_down: int = 0
    at_start: int = 0


async def stop_postgres_for(server: Any, seconds: float, tally: Tally) -> Outage:
    """Stop the embedded PostgreSQL (pg_ctl, fast), start it again after `seconds`."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    outage = Outage(at_stop=tally.acked)
    await asyncio.sleep(seconds)
    outage.while_down = tally.acked - outage.at_stop
    await start_again(server)
    outage.at_start = tally.acked
    return outage


async def database_outage(directory: Path, plan: OutagePlan) -> Outcome:
    """Scenario (d): an embedded PostgreSQL (pgserver, as tests/receiver/test_faults.py) stopped for `plan.down` s
    under TCP load, then started again; the receiver is not restarted."""
    import pgserver

    outcome = Outcome(f"PostgreSQL stopped for {plan.down:g} s mid-load")
    server = pgserver.get_server(directory / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url = await create_migrated_database(server.get_uri(), "alarmhub_soak")
        panels = soak_panels("6A", plan.panels, encrypted=True)
        await enrol(url, panels)
        setup, tally, started = ReceiverSetup(url, directory), Tally(keep_frames=True), time.monotonic()
        receiver = setup.process()
        receiver.start()
        try:
            await receiver_ready(receiver, setup)
            load = asyncio.create_task(
                run_panels(
                    panels, "127.0.0.1", setup.port, transport="tcp", duration=plan.before + plan.down + plan.after,
                    rate=plan.rate, answer_timeout=plan.answer_timeout, reconnect=True, tally=tally,
                )
            )  # fmt: skip
            await asyncio.sleep(plan.before)
            outage = await stop_postgres_for(server, plan.down, tally)
            await load
            alive = receiver.alive
        finally:
            receiver.stop()
        outcome.seconds = time.monotonic() - started
        outage_checks(outcome, plan, tally, outage, alive)
        outcome.figures.append(log_figure("receiver", receiver))
        stored = await stored_copies(url)
        outcome.checks += [stored_once_check("TCP", tally, stored), duplicates_check(stored)]
    finally:
        server.cleanup()
    return outcome


def outage_checks(outcome: Outcome, plan: OutagePlan, tally: Tally, outage: Outage, alive: bool) -> None:
    outcome.figures.append(
        f"an embedded PostgreSQL of its own (pgserver), stopped with pg_ctl -m fast; {plan.panels} panels (AES) at "
        f"{plan.rate:g} frames/s over TCP, {plan.before:g} s before the stop and "
        f"{plan.after:g} s after the start; " + tally_figure("TCP", tally)
    )
    outcome.check(
        "nothing acknowledged while PostgreSQL was down (but what was committed as it stopped)",
        outage.while_down <= plan.panels,
        f"{outage.while_down:,} acknowledged in {plan.down:g} s (at most one in flight per panel)",
    )
    after = tally.acked - outage.at_start
    outcome.check(
        "the receiver took the load again by itself", alive and after > 0, f"{after:,} acknowledged after the start"
    )


# -- the run


async def run_scenario(name: str, url: str, args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"alarmhub-soak-{name}-") as temporary:
        directory = Path(temporary)
        if name == "database-outage":  # a PostgreSQL of its own, to stop
            return await database_outage(directory, OutagePlan())
        async with migrated_database(url, "soak") as database_url:
            if name == "broker-restarts":
                return await broker_restarts(database_url, directory, BrokerPlan())
            if name == "worker-kills":
                return await worker_kills(database_url, directory, WorkerPlan())
            async with own_mosquitto(directory) as broker:
                if broker is None:
                    raise SystemExit("no mosquitto binary: the soak runs a broker of its own")
                return await receiver_kills(database_url, directory, broker, KillPlan(kills=args.kills))


def outcome_lines(outcome: Outcome) -> list[str]:
    lines = [f"**{outcome.title}** ({outcome.seconds:.0f} s): {'pass' if outcome.passed else '**FAIL**'}", ""]
    lines += [f"- {figure}" for figure in outcome.figures]
    lines += ["", "| check | result | figures |", "| --- | --- | --- |"]
    lines += [f"| {what} | {'pass' if ok else '**FAIL**'} | {figures} |" for what, ok, figures in outcome.checks]
    return [*lines, ""]


def report(outcomes: Sequence[Outcome], database: str, command: str) -> str:
    lines = [
        f"Machine: {machine()}; {database}; Mosquitto brokers of the run's own; every process on the same machine.",
        f"Command: `{command}`.",
        "",
    ]
    for outcome in outcomes:
        lines += outcome_lines(outcome)
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="kill -9 of the receiver under load (default 10)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")  # not a line per mail the soak queues
    url, embedded = server_url()
    outcomes = []
    try:
        for name in args.scenario or SCENARIOS:
            print(f"{name} ...", flush=True)
            outcomes.append(await run_scenario(name, url, args))
            print("\n".join(outcome_lines(outcomes[-1])), flush=True)
        connection = await asyncpg.connect(url)
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
    finally:
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    where = "embedded" if embedded else f"server at {urlsplit(url).netloc}"
    chosen = "".join(f" --scenario {name}" for name in args.scenario or ())
    text = report(outcomes, f"PostgreSQL {version} ({where})", f"python -m bench.soak --kills {args.kills}{chosen}")
    print(text)
    if args.write:
        write_results(text, section="soak", title="Faults (`make soak`)")
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    # The default event loop, as the tests run it. Under uvloop a paced TCP panel whose timer fires while it
    # reconnects writes to its closed transport and uvloop raises from the callback (asyncio ignores the write);
    # the frame stays outstanding and goes again on the new connection, but every kill logged tracebacks.
    sys.exit(asyncio.run(main()))

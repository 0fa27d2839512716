"""`alarmhub run` and the single-part commands: start, report where everything is, stop cleanly on a signal."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import replace

import structlog

from alarmhub.admin import print_logins
from alarmhub.context import describe_database, migrate_database, short_lived_pool
from alarmhub.loop import run_async
from alarmhub.services import mqtt_broker, portal_service
from alarmhub.supervisor import SUPERVISOR_ENV, Supervisor, supervised_worker
from alarmhub.worker import describe_mail, worker_jobs, worker_service
from receiver.health import receiver_report
from receiver.metrics import metrics_server
from receiver.service import RunningReceiver, receiver_service
from receiver.simulator.run import SimulationPlan, simulate
from receiver.transports.mqtt import mqtt_settings
from shared.config import Config, ConfigError
from shared.demo import DemoLogin, has_any_customer, load_demo_data
from shared.embedded_postgres import mark_run, resolve_database_url, run_before, uses_embedded_postgres
from shared.logs import get_logger

log = get_logger(__name__)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def demo_data_for_run(config: Config, database_url: str, *, asked: bool) -> tuple[list[DemoLogin], str | None]:
    """Load the demo set (its password is published) only where it cannot reach production: on an embedded
    database's first `alarmhub run`, or when asked (`--demo`, run.demo_data); never silently into a configured one.

    Returns the logins loaded now, and a note for the banner when the database has no customer at all.
    """
    embedded = uses_embedded_postgres(config)
    async with short_lived_pool(database_url) as pool, pool.acquire() as connection:
        empty = not await has_any_customer(connection)
        first_run = embedded and not run_before(config) and empty
        logins = await load_demo_data(connection) if asked or config["run.demo_data"] or first_run else []
    if embedded:
        mark_run(config)
    if logins or not empty:
        return logins, None
    return logins, "none (`alarmhub run --demo` or run.demo_data = true loads the demo customers and logins)"


async def _run_all(config: Config, database_url: str, *, demo: bool) -> None:
    stop = _stop_on_signals()
    applied = await migrate_database(database_url)
    logins, demo_note = await demo_data_for_run(config, database_url, asked=demo)
    receiver: RunningReceiver | None = None

    def receiver_listening() -> bool:
        return receiver is not None and receiver.listening.is_set()

    async with AsyncExitStack() as services:
        # The portal first, so that /healthz answers "not ready" until the receiver listens (and again from the
        # moment it stops listening on the way out): a load balancer or a test waits for 200, not for a port.
        readiness = {"receiver": receiver_listening}
        portal_url = await services.enter_async_context(portal_service(config, database_url, readiness))
        broker_url = await services.enter_async_context(mqtt_broker(config))
        mqtt = mqtt_settings(config, broker_url)
        receiver = await services.enter_async_context(receiver_service(config, database_url, mqtt))
        await services.enter_async_context(worker_service(config, database_url))
        print("alarmhub is running")
        print(f"  portal:    {portal_url}")
        print(f"  receiver:  DC-09 {_transports(receiver.udp_address)} on {_address(receiver.tcp_address)}")
        if mqtt is not None:
            kind = "embedded amqtt broker" if config["mqtt.url"] == "embedded" else "broker"
            print(f"  mqtt:      {kind} {mqtt.address}, topics alarmhub/panels/<account>/dc09|events")
        print(f"  e-mail:    {describe_mail(config)}")
        print(
            f"  database:  {describe_database(config)}" + (f" (applied {len(applied)} migrations)" if applied else "")
        )
        if demo_note:
            print(f"  demo data: {demo_note}")
        if logins:
            print_logins(logins)
        print("Press Ctrl-C to stop.", flush=True)
        log.info("started", portal=portal_url)
        await stop.wait()
        print("stopping…", flush=True)
    log.info("stopped")


def _address(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def _transports(udp_address: tuple[str, int] | None) -> str:
    return "TCP and UDP" if udp_address else "TCP"


async def _run_receiver(config: Config, database_url: str) -> None:
    stop = _stop_on_signals()
    url = config["mqtt.url"]
    if url == "embedded":
        log.info("MQTT off: the embedded broker runs inside `alarmhub run`; set mqtt.url to a broker's URL")
    mqtt = mqtt_settings(config, None if url == "embedded" else url)
    receiver: RunningReceiver | None = None

    def health() -> dict[str, str]:
        return receiver_report(receiver, mqtt=mqtt is not None)

    # The metrics server first, so that /healthz answers 503 while the receiver waits for its database (and again
    # from the moment it stops on the way out).
    async with AsyncExitStack() as parts:
        metrics_url = await parts.enter_async_context(metrics_server(config["receiver.metrics_listen"], health))
        receiver = await parts.enter_async_context(receiver_service(config, database_url, mqtt))
        log.info(
            "receiver started",
            tcp=_address(receiver.tcp_address),
            udp=receiver.udp_address is not None,
            mqtt=mqtt.address if mqtt else None,
            metrics=metrics_url,
        )
        await stop.wait()


async def _run_portal(config: Config, database_url: str) -> None:
    stop = _stop_on_signals()
    async with portal_service(config, database_url) as portal_url:
        log.info("portal started", url=portal_url)
        await stop.wait()


async def _run_worker(config: Config, database_url: str) -> None:
    stop = _stop_on_signals()
    async with worker_service(config, database_url):
        log.info("worker started", mail=describe_mail(config), jobs=[job.name for job in worker_jobs(config)])
        await stop.wait()


def run_worker(config: Config) -> int:
    run_async(_run_worker(config, resolve_database_url(config)))
    return 0


def run_all(config: Config, *, demo: bool = False) -> int:
    database_url = resolve_database_url(config)
    run_async(_run_all(config, database_url, demo=demo))
    return 0


def run_receiver(config: Config) -> int:
    """One receiver in this process; with `receiver.processes` > 1 a supervisor over that many (supervisor.py)."""
    worker = supervised_worker()  # first: a supervised worker must not outlive its supervisor
    if worker is not None:
        structlog.contextvars.bind_contextvars(worker=worker.index)
    elif config["receiver.processes"] > 1:
        return _supervise_receivers(config)
    run_async(_run_receiver(config, resolve_database_url(config)))
    return 0


def _supervise_receivers(config: Config) -> int:
    """Worker i: `alarmhub receiver` with processes = 1, the resolved database, metrics on port + i, MQTT if i = 0.

    MQTT stays with worker 0: `mqtt.client_id` names one persistent session, which a second client with the same
    id would take over (and per-worker ids would leave sessions holding messages when the count changes).
    """
    count: int = config["receiver.processes"]
    metrics: tuple[str, int] | None = config["receiver.metrics_listen"]
    if metrics is not None and metrics[1] + count - 1 > 65535:
        raise ConfigError(
            "receiver.metrics_listen",
            f"worker i serves /metrics on port {metrics[1]} + i, and {count} workers (receiver.processes) pass 65535",
        )
    database_url = resolve_database_url(config)  # once, so that every worker joins the same (embedded) database
    inherited = {key: value for key, value in os.environ.items() if key != SUPERVISOR_ENV}
    metrics_urls = [] if metrics is None else [f"http://{_metrics_address(metrics, i)}/metrics" for i in range(count)]

    def environment(index: int) -> Mapping[str, str]:
        env = inherited | {"ALARMHUB_DATABASE_URL": database_url, "ALARMHUB_RECEIVER_PROCESSES": "1"}
        if metrics is not None:
            env["ALARMHUB_RECEIVER_METRICS_LISTEN"] = _metrics_address(metrics, index)
        if index > 0:
            env["ALARMHUB_MQTT_URL"] = ""  # empty: MQTT off
        return env

    command = [sys.executable, "-m", "alarmhub"]
    if config.path is not None:
        command += ["--config", str(config.path.resolve())]
    details = {
        "tcp": f"{config['receiver.dc09_host']}:{config['receiver.dc09_port']}",
        "udp": config["receiver.udp_enabled"],
        "metrics": metrics_urls or None,
        "mqtt": "worker 0" if config["mqtt.url"] not in ("", "embedded") else None,
    }
    return Supervisor([*command, "receiver"], count, environment, details).run()


def _metrics_address(listen: tuple[str, int], index: int) -> str:
    host = f"[{listen[0]}]" if ":" in listen[0] else listen[0]
    return f"{host}:{listen[1] + index}"


def run_portal(config: Config) -> int:
    run_async(_run_portal(config, resolve_database_url(config)))
    return 0


def run_simulation(config: Config, args: argparse.Namespace, database_url: str) -> int:
    """Drive virtual panels and print what came back; exit 1 if any frame went unacknowledged."""
    if args.transport == "mqtt":
        return _simulate_mqtt(config, args, database_url)
    plan = SimulationPlan(
        panels=args.panels,
        rate=args.rate,
        duration=args.duration,
        transport=args.transport,
        encrypted=args.encrypted,
        host=args.host or config["receiver.dc09_host"],
        port=args.port or config["receiver.dc09_port"],
    )
    kind = "AES-128" if plan.encrypted else "plain"
    pace = f"at {plan.rate:g} msg/s" if plan.rate else "as fast as answered"
    print(
        f"simulating {plan.panels} {kind} panels over {plan.transport} to {plan.host}:{plan.port} "
        f"for {plan.duration:g} s {pace}"
    )
    tally = run_async(simulate(plan, database_url))
    print(tally.summary(plan.duration))
    return 0 if tally.acked and tally.acked == tally.sent else 1


def _simulate_mqtt(config: Config, args: argparse.Namespace, database_url: str) -> int:
    from receiver.simulator.mqtt import simulate_mqtt

    url = config["mqtt.url"]
    if url == "embedded":
        host, port = config["mqtt.embedded_listen"]
        url = f"mqtt://{host}:{port}"
    settings = mqtt_settings(config, url)
    if settings is None:
        print("alarmhub: mqtt.url is empty: MQTT is off", file=sys.stderr)
        return 2
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    kind = "AES-128" if args.encrypted else "plain"
    pace = f"at {args.rate:g} msg/s" if args.rate else "as fast as answered"
    print(
        f"simulating {args.panels} {kind} panels over MQTT (DC-09 frames and JSON events, QoS 1) to "
        f"{settings.address} for {args.duration:g} s {pace}"
    )
    tally = run_async(simulate_mqtt(args.panels, args.rate, args.duration, args.encrypted, settings, database_url))
    print(tally.summary(args.duration))
    return 0 if tally.acked and tally.acked == tally.sent else 1

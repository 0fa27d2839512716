"""MQTT ingest benchmark: committed signals/s through the broker, against the broker's own QoS 1 rate.

Two runs with the same virtual panels (DC-09 frames and JSON events alternately, QoS 1, each panel waiting for
its answer before the next, as on TCP) and the same load client:

1. bare: the messages go to a plain QoS 1 subscriber in the load process; its receipt is the answer. This is
   what the broker and the client library manage on this machine with nothing behind them.
2. alarmhub: a real `alarmhub receiver` process takes them from its shared subscription, commits them to
   PostgreSQL and answers on alarmhub/panels/<acct>/ack; only a committed signal is answered.

The target is alarmhub ≥ 80 % of bare. Rows are checked against answers afterwards. Results go to
bench/RESULTS.md with --write.

    python -m bench.ingest_mqtt [--broker mqtt://127.0.0.1:1883] [--panels 200] [--duration 5] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import asyncpg

from bench.ingest import REPO, free_port, machine, run_benchmark, server_url, with_database, write_results
from receiver.simulator.client import Tally
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.mqtt import run_mqtt_panels
from receiver.simulator.run import virtual_panels
from receiver.transports.mqtt import MqttSettings, ack_topic, connect_client
from shared.migrations import migrate


async def wait_subscribed(settings: MqttSettings, process: subprocess.Popen[bytes], limit: float = 30) -> None:
    """Until the receiver answers a probe event (its subscription exists)."""
    probe = "C" + secrets.token_hex(4).upper()
    payload = (f'{{"account":"{probe}","format":"SIA-DCS","code":"RP","seq":1,"time":"2026-01-01T00:00:00Z"}}').encode()
    deadline = time.monotonic() + limit
    async with connect_client(settings, client_id=f"probe-{secrets.token_hex(4)}", clean=True) as client:
        await client.subscribe(ack_topic(probe), qos=1)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the receiver exited during start-up")
            await client.publish(f"alarmhub/panels/{probe}/events", payload, qos=1)
            try:
                async with asyncio.timeout(1.0):
                    await anext(aiter(client.messages))
                return
            except TimeoutError:
                continue
    raise RuntimeError("the receiver did not subscribe")


async def run(broker: str, panels: int, duration: float, database_url: str) -> tuple[float, Tally, float, int]:
    """(bare rate, alarmhub tally, alarmhub seconds, rows)."""
    settings = MqttSettings(host="127.0.0.1", port=1883, client_id=f"alarmhub-bench-{secrets.token_hex(4)}")
    from urllib.parse import urlsplit

    parts = urlsplit(broker)
    settings = replace(settings, host=parts.hostname or "127.0.0.1", port=parts.port or 1883)
    group = f"bench-{secrets.token_hex(4)}"
    virtual = virtual_panels(panels, encrypted=False)
    connection = await asyncpg.connect(database_url)
    await enrol_simulated_panels(connection, {p.account: p.key for p in virtual})

    started = time.perf_counter()
    bare = await run_mqtt_panels(virtual, settings, duration=duration, bare_subscriber=True)
    bare_rate = bare.acked / (time.perf_counter() - started)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(free_port()),
        "ALARMHUB_MQTT_URL": broker,
        "ALARMHUB_MQTT_CLIENT_ID": settings.client_id,
        "ALARMHUB_MQTT_SHARED_GROUP": group,
        "ALARMHUB_LOG_LEVEL": "warning",
    }
    receiver = subprocess.Popen([sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env)
    try:
        await wait_subscribed(settings, receiver)
        await run_mqtt_panels(virtual, settings, duration=1.0)  # warm-up
        await asyncio.sleep(0.5)
        await connection.execute("TRUNCATE signals, signal_keys")
        started = time.perf_counter()
        tally = await run_mqtt_panels(virtual, settings, duration=duration)
        seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)  # the last messages of each panel commit after the run stopped counting
        rows = await connection.fetchval("SELECT count(*) FROM signals")
    finally:
        receiver.terminate()
        receiver.wait(timeout=15)
        await connection.close()
        async with connect_client(settings, clean=True):  # drop the receiver's persistent session
            pass
    return bare_rate, tally, seconds, rows


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default=os.environ.get("ALARMHUB_TEST_MQTT_URL") or "mqtt://127.0.0.1:1883")
    parser.add_argument("--panels", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--write", action="store_true", help="replace the MQTT table in bench/RESULTS.md")
    args = parser.parse_args(argv)
    url, embedded = server_url()
    name = f"alarmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    try:
        connection = await asyncpg.connect(database_url)
        await migrate(connection)
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
        bare_rate, tally, seconds, rows = await run(args.broker, args.panels, args.duration, database_url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    rate = tally.acked / seconds
    consistent = tally.acked <= rows <= tally.acked + args.panels
    report = (
        f"Machine: {machine()}; PostgreSQL {version}; broker {args.broker}.\n"
        f"Command: `python -m bench.ingest_mqtt --panels {args.panels} --duration {args.duration:g}` (each panel "
        f"waits for its answer; DC-09 frames and JSON events alternately, QoS 1; receiver, broker and load client "
        f"on the same machine).\n\n"
        "| run | panels | messages/s | p50 | p99 | answered | rows | share of bare |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        f"| bare QoS 1 subscriber | {args.panels} | {bare_rate:,.0f} | | | | | 100 % |\n"
        f"| alarmhub receiver (committed) | {args.panels} | {rate:,.0f} | {tally.percentile(0.5) * 1000:.1f} ms | "
        f"{tally.percentile(0.99) * 1000:.1f} ms | {tally.acked:,} | {rows:,} | {rate / bare_rate:.0%} |\n"
    )
    print("\n" + report)
    if not consistent:
        print(f"rows ({rows}) do not match the answered messages ({tally.acked})")
    if args.write:
        write_results(report, section="ingest-mqtt", title="MQTT ingest")
    return 0 if consistent else 1


if __name__ == "__main__":
    run_benchmark(main)

"""Two of everything (SPEC §8, issue 16): two receiver processes on one DC-09 port (SO_REUSEPORT) and one MQTT shared
subscription, two workers and two portals, over one database and one broker, under load from simulated panels over
TCP, UDP and MQTT — every acknowledged signal stored once, each premises' alarms in one incident, both dispatchers'
consoles live with every signal, and each singleton job led by one worker and run once per tick."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from cryptography.fernet import Fernet

from receiver.simulator.client import Tally, run_panels
from receiver.simulator.mqtt import run_mqtt_panels
from receiver.simulator.run import virtual_panels
from receiver.simulator.traffic import VirtualPanel
from shared.enrolment import create_customer, create_staff_user
from shared.incidents.opener import JOB as OPENER_JOB
from tests.conftest import REPO, free_port
from tests.receiver.test_faults import wait_for_port
from tests.receiver.test_mqtt import EMBEDDED, mqtt_config, settings_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EMBEDDED, reason="needs a broker with shared subscriptions (ALARMHUB_TEST_MQTT_URL)"),
]

PASSWORD = "two of everything, once each"
# The worker's singleton jobs (alarmhub/worker.py): each must have one leader; those run by tick, a finished tick.
TICKED_JOBS = {"incident-supervision", "billing-cycle", "autopay", "prune-login-records"}
LED_JOBS = TICKED_JOBS | {"incident-opener"}
DISPATCHER = "dispatcher@example.com"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def processes(commands: list[tuple[str, dict[str, str]]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`alarmhub <command>` for each (command, environment); all terminated (then killed) at the end."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")}
    started = [
        subprocess.Popen([sys.executable, "-m", "alarmhub", command], cwd=REPO, env={**base, **env})
        for command, env in commands
    ]
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def enrol(database_url: str, panels: list[VirtualPanel]) -> None:
    """Each panel its own customer and premises (so incidents are per premises), and one dispatcher."""
    connection = await asyncpg.connect(database_url)
    try:
        for number, panel in enumerate(panels):
            await create_customer(
                connection,
                name=f"Customer {number}",
                email=f"owner-{number}@example.com",
                password=None,
                account=panel.account,
                address=f"{number} Main Street",
            )
        await create_staff_user(connection, email=DISPATCHER, password=PASSWORD, role="dispatcher")
    finally:
        await connection.close()


@asynccontextmanager
async def console(base: str) -> AsyncIterator[list[dict[str, object]]]:
    """A dispatcher logged in at `base` with the live console open; yields the messages as they arrive."""
    received: list[dict[str, object]] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{base}/login") as page:
            token = _CSRF.search(await page.text())
        assert token is not None
        form = {"email": DISPATCHER, "password": PASSWORD, "csrf_token": token.group(1)}
        async with session.post(f"{base}/login", data=form) as answer:
            assert answer.status == 200, answer.status
        async with session.ws_connect(f"{base}/dispatch/live") as ws:

            async def read() -> None:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        received.extend(json.loads(line) for line in message.data.split("\n"))

            reader = asyncio.create_task(read())
            try:
                yield received
            finally:
                reader.cancel()


def signal_ids(messages: list[dict[str, object]]) -> set[int]:
    ids = set()
    for message in messages:
        signal = message.get("signal")
        if message.get("type") == "signal" and isinstance(signal, dict):
            ids.add(signal["id"])
    return ids


async def stored_by_transport(metrics_port: int) -> dict[str, float]:
    """A receiver's alarmhub_receiver_signals_total by transport, read from its /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{metrics_port}/metrics") as answer:
        text = await answer.text()
    found = re.findall(r'^alarmhub_receiver_signals_total\{transport="(\w+)"\} ([\d.e+]+)$', text, re.MULTILINE)
    return {transport: float(value) for transport, value in found}


async def eventually(check: object, limit: float = 30.0) -> None:
    """Await `check()` until it returns True (it is retried every 0.2 s for `limit` seconds)."""
    for _ in range(int(limit / 0.2)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {limit} s: {getattr(check, '__name__', check)}")


async def test_two_receivers_workers_and_portals_store_open_and_show_everything_once(
    database_url: str, tmp_path: Path
) -> None:
    mqtt_url = os.environ["ALARMHUB_TEST_MQTT_URL"]
    group = f"two-{secrets.token_hex(3)}"
    panels = virtual_panels(18, encrypted=False)
    for panel in panels:  # the broker is shared with other runs: accounts of their own
        panel.account = secrets.token_hex(4).upper()
    # 12 TCP connections: the kernel puts them all on one of the two receivers once in 2,048 runs.
    tcp_panels, udp_panels, mqtt_panels = panels[:12], panels[12:15], panels[15:]
    await enrol(database_url, panels)

    dc09_port = free_port()
    metrics_ports = [free_port(), free_port()]
    portal_ports = [free_port(), free_port()]
    session_key = Fernet.generate_key().decode()
    common = {"ALARMHUB_DATABASE_URL": database_url, "ALARMHUB_LOG_LEVEL": "warning"}
    receiver_env = [
        {
            **common,
            "ALARMHUB_RECEIVER_DC09_PORT": str(dc09_port),  # both on one port: the kernel splits the connections
            "ALARMHUB_MQTT_URL": mqtt_url,
            "ALARMHUB_MQTT_CLIENT_ID": f"{group}-receiver-{n}",
            "ALARMHUB_MQTT_SHARED_GROUP": group,
            "ALARMHUB_RECEIVER_METRICS_LISTEN": f"127.0.0.1:{metrics_ports[n - 1]}",
        }
        for n in (1, 2)
    ]
    portal_env = [
        {
            **common,
            "ALARMHUB_PORTAL_HOST": "127.0.0.1",
            "ALARMHUB_PORTAL_PORT": str(port),
            "ALARMHUB_PORTAL_SESSION_KEY": session_key,
            "ALARMHUB_PATHS_VAR_DIR": str(tmp_path / f"portal-{port}"),
            "ALARMHUB_MQTT_URL": "",
            # This test's consoles do not reconnect as the page does: none may fall behind far enough to be cut
            # off on a loaded machine (tests/portal/console covers the cut and the catch-up).
            "ALARMHUB_DISPATCH_CONSOLE_QUEUE": "100000",
        }
        for port in portal_ports
    ]
    worker_env = [
        {**common, "ALARMHUB_MQTT_URL": "", "ALARMHUB_PATHS_VAR_DIR": str(tmp_path / f"worker-{n}")} for n in (1, 2)
    ]
    commands = [("receiver", e) for e in receiver_env] + [("worker", e) for e in worker_env]
    commands += [("portal", e) for e in portal_env]
    with processes(commands) as running:
        await wait_for_port(dc09_port)
        for port in portal_ports:
            await wait_for_port(port)

        # The incident opener starts from "now" on its first start: the panels send once it has (else an alarm
        # stored before it would never be taken up, and the check below would wait for it in vain).
        async def opener_started() -> bool:
            connection = await asyncpg.connect(database_url)
            try:
                return bool(await connection.fetchval("SELECT count(*) FROM job_cursors WHERE job = $1", OPENER_JOB))
            finally:
                await connection.close()

        await eventually(opener_started)
        bases = [f"http://127.0.0.1:{port}" for port in portal_ports]
        async with console(bases[0]) as first, console(bases[1]) as second:
            tcp, udp, mqtt = Tally(keep_frames=True), Tally(keep_frames=True), Tally()
            settings = settings_of(mqtt_config(mqtt_url, group))
            await asyncio.gather(
                run_panels(tcp_panels, "127.0.0.1", dc09_port, transport="tcp", duration=8.0, rate=150, tally=tcp),
                run_panels(udp_panels, "127.0.0.1", dc09_port, transport="udp", duration=8.0, rate=60, tally=udp),
                run_mqtt_panels(mqtt_panels, settings, duration=8.0, rate=60, tally=mqtt),
            )
            assert all(p.poll() is None for p in running), "a process died under load"
            assert tcp.answers["ack"] > 300 and udp.answers["ack"] > 100 and mqtt.answers["ack"] > 100
            for port in metrics_ports:  # both receivers took TCP connections and MQTT messages
                stored = await stored_by_transport(port)
                assert stored.get("tcp", 0) > 0 and stored.get("mqtt", 0) > 0, (port, stored)

            connection = await asyncpg.connect(database_url)
            try:
                # Every acknowledged DC-09 frame is stored, and none twice, whichever receiver took it.
                rows = await connection.fetch(
                    "SELECT raw_frame, count(*) AS copies FROM signals WHERE transport <> 'mqtt' GROUP BY raw_frame"
                )
                stored = {bytes(r["raw_frame"]): r["copies"] for r in rows}
                assert all(copies == 1 for copies in stored.values()), "a frame was stored twice"
                acked = tcp.acked_frames + udp.acked_frames
                assert [f for f in acked if f not in stored] == [], "an acknowledged frame is missing"
                mqtt_stored = await connection.fetchval(
                    "SELECT count(*) FROM signals WHERE account = ANY($1)", [p.account for p in mqtt_panels]
                )
                assert mqtt_stored >= mqtt.answers["ack"], "an acknowledged MQTT message is missing"
                all_ids = {r["id"] for r in await connection.fetch("SELECT id FROM signals")}

                # Both consoles show every signal, from both receivers and every transport.
                async def consoles_have_everything() -> bool:
                    return all_ids <= signal_ids(first) and all_ids <= signal_ids(second)

                await eventually(consoles_have_everything)

                # The incident opener (one leader of two workers) took every alarm exactly once: each in one
                # incident, and one incident per premises (none was closed).
                async def every_alarm_in_an_incident() -> bool:
                    missing: int = await connection.fetchval(
                        "SELECT count(*) FROM signals s WHERE s.category = 'alarm' AND s.qualifier = 'event' "
                        "AND NOT EXISTS (SELECT 1 FROM incident_signals i WHERE i.signal_id = s.id)"
                    )
                    return missing == 0

                await eventually(every_alarm_in_an_incident)
                alarms = await connection.fetchval("SELECT count(*) FROM signals WHERE category = 'alarm'")
                assert alarms > 20
                per_premises = await connection.fetch(
                    "SELECT premises_key, count(*) AS incidents FROM incidents GROUP BY premises_key"
                )
                assert per_premises and all(r["incidents"] == 1 for r in per_premises), per_premises

                # Each singleton job has one leader, one of the two workers, and ran each tick once.
                holders = {r["job"]: r["holder"] for r in await connection.fetch("SELECT job, holder FROM job_leaders")}
                worker_pids = {str(p.pid) for p in running[2:4]}
                assert set(holders) >= LED_JOBS, holders
                assert all(h.rsplit(":", 1)[-1] in worker_pids for h in holders.values()), holders
                ran = {
                    r["job"] for r in await connection.fetch("SELECT DISTINCT job FROM job_runs WHERE status = 'done'")
                }
                assert ran >= TICKED_JOBS, ran
                repeated = await connection.fetch(
                    "SELECT job, tick_at, attempts, status FROM job_runs"
                    " WHERE attempts > 1 OR (status <> 'done' AND finished_at IS NOT NULL)"
                )
                assert repeated == [], repeated
            finally:
                await connection.close()
        assert all(p.poll() is None for p in running), "a process died"

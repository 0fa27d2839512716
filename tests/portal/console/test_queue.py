"""The open-incident queue: its order, lanes and counts (shared.incidents.queue), the snapshot the consoles get
when an incident is opened or changes, and the console page itself."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.events import INCIDENTS, IncidentsChanged, notify
from shared.incidents.model import IncidentKind
from shared.incidents.queue import open_queue
from tests.portal.conftest import Customer, Portal, enrol
from tests.portal.console.conftest import hub_of, insert_signals, open_incident, wait_until


async def test_the_queue_orders_by_priority_then_age_with_held_ones_after_and_unknown_apart(
    db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    async with db.acquire() as connection:
        gamma = await enrol(connection, "gamma", "C3C3")
        delta = await enrol(connection, "delta", "D4D4")
    burglary_old = await open_incident(db, alpha, title="Burglary", priority=3, minutes_ago=20)
    fire_new = await open_incident(db, beta, title="Fire", priority=1, minutes_ago=1)
    burglary_new = await open_incident(db, gamma, title="Burglary again", priority=3, minutes_ago=2)
    held_fire = await open_incident(db, delta, title="Fire on hold", priority=1, minutes_ago=30, held_seconds=600)
    unknown = await open_incident(db, None, title="Unknown", priority=4, kind="unknown_account", account="EEEE")
    closed = await open_incident(db, None, title="Done", priority=1, kind="unknown_account", account="ABCD")
    await db.execute(
        "UPDATE incidents SET status = 'closed', closed_at = now(), disposition = 'test' WHERE id = $1", closed
    )
    dispatcher_id = await db.fetchval("SELECT id FROM users WHERE email = 'dispatcher@example.com'")
    await db.execute("UPDATE users SET name = 'Dana Dispatcher' WHERE id = $1", dispatcher_id)
    await db.execute("UPDATE incidents SET holder_id = $2, taken_at = now() WHERE id = $1", burglary_old, dispatcher_id)

    async with db.acquire() as connection:
        queue = await open_queue(connection)
    assert [e.id for e in queue.incidents] == [fire_new, burglary_old, burglary_new, held_fire]
    assert [e.held for e in queue.incidents] == [False, False, False, True]
    assert [e.id for e in queue.unknown] == [unknown]
    assert queue.unknown[0].kind is IncidentKind.UNKNOWN_ACCOUNT and queue.unknown[0].account == "EEEE"
    assert dict(queue.counts) == {1: 2, 3: 2} and queue.total == 4
    assert queue.held_count == 1 and queue.unknown_count == 1
    assert queue.next_release is not None and queue.next_release > queue.at
    first, taken = queue.incidents[0], queue.incidents[1]
    assert (first.customer_name, first.premises_address) == ("Customer beta", "beta Street 1")
    assert (taken.holder_id, taken.holder_name) == (dispatcher_id, "Dana Dispatcher")
    assert first.holder_id is None and first.holder_name == ""


async def test_the_consoles_queue_follows_an_incident_opened_taken_and_released_from_hold(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    alpha, beta = customers
    console = await open_console(dispatcher)
    assert (await console.next("queue"))["total"] == 0
    await wait_until(hub_of(app_client).listener.connected.is_set)

    incident_id = await open_incident(db, alpha, title="Burglary alarm", priority=3)
    snapshot = await console.queue_where(lambda queue: bool(queue["incidents"]), timeout=2.0)
    (entry,) = snapshot["incidents"]
    assert entry["id"] == incident_id and entry["title"] == "Burglary alarm" and entry["priority"] == 3
    assert (entry["customer_name"], entry["premises_address"]) == ("Customer alpha", "alpha Street 1")
    assert entry["holder_id"] is None and snapshot["counts"] == {"3": 1} and snapshot["unknown"] == []
    assert 0 <= entry["age_seconds"] < 5

    # Taken by a dispatcher (as DESK's handling writes it): the holder's name shows.
    async with db.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE incidents SET holder_id = (SELECT id FROM users WHERE email = 'dispatcher@example.com'), "
            "taken_at = now() WHERE id = $1",
            incident_id,
        )
        await notify(connection, INCIDENTS, IncidentsChanged((incident_id,)))
    taken = (await console.queue_where(lambda queue: queue["incidents"][0]["holder_id"], timeout=2.0))["incidents"][0]
    assert taken["holder_name"] == "dispatcher@example.com"

    # A fire on hold for a second: after the burglary while held, back in front once the hold ends, with no write.
    fire = await open_incident(db, beta, title="Fire alarm", priority=1, held_seconds=1.0)
    held = await console.next("queue", timeout=2.0)
    assert [(e["id"], e["held"]) for e in held["incidents"]] == [(incident_id, False), (fire, True)]
    assert held["held_count"] == 1 and held["counts"] == {"1": 1, "3": 1}
    released = await console.next("queue", timeout=3.0)
    assert [(e["id"], e["held"]) for e in released["incidents"]] == [(fire, False), (incident_id, False)]

    # An unknown account's incident goes to its own lane.
    unknown = await open_incident(db, None, title="Signal from an unknown account", kind="unknown_account", priority=4)
    lanes = await console.next("queue", timeout=2.0)
    assert [e["id"] for e in lanes["unknown"]] == [unknown] and lanes["unknown_count"] == 1
    assert unknown not in [e["id"] for e in lanes["incidents"]]


async def test_a_burst_of_changes_is_one_queue_read(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    console = await open_console(dispatcher)
    await console.next("queue")
    await wait_until(hub_of(app_client).listener.connected.is_set)
    incident_id = await open_incident(db, customers[0])
    await console.next("queue", timeout=2.0)
    async with db.acquire() as connection:
        for _ in range(20):
            await notify(connection, INCIDENTS, IncidentsChanged((incident_id,)))
    reads = 0
    try:
        while True:
            await console.next("queue", timeout=1.0)
            reads += 1
    except TimeoutError:
        pass
    # Twenty notices: one read (two when the first notice's read was already under way as the rest arrived).
    assert 1 <= reads <= 2


async def test_the_console_page_shows_the_queue_and_the_latest_signals(
    dispatcher: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    incident_id = await open_incident(db, alpha, title="Panic alarm", priority=1)
    await insert_signals(db, alpha, description="AC power loss", category="power")
    page = await dispatcher.get("/dispatch")
    assert page.status == 200
    text = await page.text()
    assert f'href="/dispatch/incidents/{incident_id}"' in text
    assert "Panic alarm" in text and "Customer alpha" in text and "P1: 1" in text
    assert "Burglary alarm at Alpha" in text and "Fire alarm at Beta" in text  # the fixtures' alarms
    assert "AC power loss" in text
    assert 'data-live="/dispatch/live"' in text and "console.js" in text
    assert ">Console</a>" in text  # the staff menu entry

"""The live console on real websockets against the app and PostgreSQL: delivery, catch-up, slow and ended sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from shared.config import Config
from tests.portal.conftest import Customer, Portal
from tests.portal.console.conftest import hub_of, insert_signals, logged_in, wait_until


async def test_a_committed_signal_reaches_two_open_consoles_within_a_second(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    admin: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    first, second = await open_console(dispatcher), await open_console(admin)
    for console in (first, second):
        assert (await console.next("queue"))["incidents"] == []
    await wait_until(hub_of(app_client).listener.connected.is_set)

    committed = time.monotonic()
    (signal_id,) = await insert_signals(db, customers[0], description="Glass break")
    for console in (first, second):
        (message,) = await console.signals([signal_id], timeout=1.0)
        assert time.monotonic() - committed < 1.0
        assert message["signal"]["id"] == signal_id
        assert message["signal"]["text"] == "Glass break"
        assert message["signal"]["category"] == "alarm"
        assert message["signal"]["account"] == customers[0].account
        assert message["signal"]["known"] is True
        assert message["cursor"].endswith(f"-{signal_id}")


async def test_signals_committed_while_the_listener_is_cut_off_still_arrive(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    hub = hub_of(app_client)
    console = await open_console(dispatcher)
    await console.next("queue")
    await wait_until(hub.listener.connected.is_set)
    before = await insert_signals(db, customers[0], description="Before the cut")
    assert [m["signal"]["id"] for m in await console.signals(before)] == before

    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'alarmhub console' AND datname = current_database()"
    )
    assert killed == 1
    # Committed while nobody listens: their NOTIFYs are lost; the reconnected listener reads them from the table.
    missed = await insert_signals(db, customers[1], 3, description="While cut off")
    received = await console.signals(missed, timeout=10.0)
    assert [m["signal"]["id"] for m in received] == missed
    await wait_until(lambda: hub.listener.connections >= 2)
    after = await insert_signals(db, customers[0], description="After the cut")
    assert [m["signal"]["id"] for m in await console.signals(after)] == after


async def test_a_console_that_stops_reading_is_cut_and_the_other_receives_everything(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    admin: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    hub = hub_of(app_client)
    fast = await open_console(dispatcher)
    slow = await open_console(admin)
    await fast.next("queue")
    await slow.next("queue")
    await wait_until(lambda: len(hub.sockets) == 2 and all(s.writer for s in hub.sockets))
    await wait_until(hub.listener.connected.is_set)
    admin_id = await db.fetchval("SELECT id FROM users WHERE email = 'admin@example.com'")
    slow_socket = next(s for s in hub.sockets if s.user_id == admin_id)

    # The slow console reads nothing from here on; the fast one reads all of it as it comes.
    expected: list[int] = []
    received: list[int] = []

    floor = await db.fetchval("SELECT coalesce(max(id), 0) FROM signals")  # the fixtures' signals: not counted

    async def read_fast(total: int) -> None:
        while len(received) < total:
            signal_id = (await fast.next("signal", timeout=20.0))["signal"]["id"]
            if signal_id > floor:
                received.append(signal_id)

    batches, size = 100, 250
    reader = asyncio.create_task(read_fast(batches * size))
    for _ in range(batches):
        expected += await insert_signals(db, customers[0], size, description="Flood")
        if slow_socket.closing:
            break
    await wait_until(lambda: slow_socket.closing, timeout=20.0)
    assert slow_socket.close_code == 4008
    assert slow_socket not in hub.sockets or slow_socket.closing
    # The fast console is not held up: it has everything committed, in order, once.
    while len(expected) < 2 * size:
        expected += await insert_signals(db, customers[0], size, description="More")
    await wait_until(lambda: len(received) >= len(expected), timeout=20.0)
    reader.cancel()
    assert received[: len(expected)] == expected
    # The slow one, when it reads again, finds its connection closed.
    code = await slow.closed(timeout=10.0)
    assert code in (4008, 1006, None)
    await wait_until(lambda: slow_socket not in hub.sockets, timeout=5.0)


async def test_a_logged_out_or_revoked_session_closes_its_console(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    admin: Portal,
    open_console: Any,
    db: asyncpg.Pool,
) -> None:
    mine, theirs = await open_console(dispatcher), await open_console(admin)
    await mine.next("queue")
    await theirs.next("queue")

    await dispatcher.logout()
    assert await mine.closed(timeout=3.0) == 4001

    await db.execute(
        "UPDATE user_sessions SET revoked_at = now() "
        "WHERE user_id = (SELECT id FROM users WHERE email = 'admin@example.com')"
    )
    assert await theirs.closed(timeout=3.0) == 4001
    await wait_until(lambda: not hub_of(app_client).sockets)


async def test_a_staff_login_losing_the_permission_closes_its_console(
    app_client: TestClient[Any, Any], dispatcher: Portal, open_console: Any, db: asyncpg.Pool
) -> None:
    console = await open_console(dispatcher)
    await console.next("queue")
    # A dispatcher turned into a customer's login (it cannot happen through the pages; the check must not care).
    await db.execute("UPDATE users SET permissions = '{}' WHERE email = 'dispatcher@example.com'")
    await asyncio.sleep(1.0)
    assert not console.ws.closed  # a dispatcher holds take_incidents by role: still admitted
    await db.execute("UPDATE users SET password_hash = NULL WHERE email = 'dispatcher@example.com'")
    assert await console.closed(timeout=3.0) == 4001


async def test_customers_and_secondary_users_get_403(
    app_client: TestClient[Any, Any], customers: tuple[Customer, Customer]
) -> None:
    alpha = customers[0]
    for email in (alpha.owner_email, alpha.secondary_email):
        portal = await logged_in(app_client, email)
        page = await portal.client.get("/dispatch", allow_redirects=False)
        assert page.status == 403, email
        assert "Console" not in await (await portal.client.get("/dashboard")).text()
        try:
            await portal.client.ws_connect("/dispatch/live")
        except WSServerHandshakeError as refused:
            assert refused.status == 403, email
        else:
            raise AssertionError(f"{email} opened the console's feed")
        await portal.logout()
    # Not logged in: the page sends to the login form, the feed does not open.
    page = await app_client.get("/dispatch", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/login")
    try:
        await app_client.ws_connect("/dispatch/live")
    except WSServerHandshakeError as refused:
        assert refused.status in (303, 200)  # followed to the login page: not a websocket
    else:
        raise AssertionError("the feed opened without a login")


async def test_a_websocket_from_another_site_is_refused(dispatcher: Portal) -> None:
    try:
        await dispatcher.client.ws_connect("/dispatch/live", origin="https://evil.example")
    except WSServerHandshakeError as refused:
        assert refused.status == 403
    else:
        raise AssertionError("a cross-site page opened the console's feed")
    ws = await dispatcher.client.ws_connect("/dispatch/live", origin=str(dispatcher.client.make_url("/"))[:-1])
    assert (await ws.receive_json())["type"] == "queue"
    await ws.close()


async def test_a_reconnecting_console_is_caught_up_from_its_cursor(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    console = await open_console(dispatcher)
    await console.next("queue")
    await wait_until(hub_of(app_client).listener.connected.is_set)
    seen = await insert_signals(db, customers[0], description="Seen")
    cursor = (await console.signals(seen))[0]["cursor"]
    await console.ws.close()

    missed = await insert_signals(db, customers[1], 5, description="Missed")
    again = await open_console(dispatcher, after=cursor)
    assert [m["signal"]["id"] for m in await again.signals(missed)] == missed
    live = await insert_signals(db, customers[0], description="Live again")
    assert [m["signal"]["id"] for m in await again.signals(live)] == live
    assert [m for m in again.received if m["type"] == "signal" and m["signal"]["text"] == "Seen"] == []


async def test_a_console_too_far_behind_or_with_a_foreign_cursor_is_told_to_reload(
    app_client: TestClient[Any, Any],
    dispatcher: Portal,
    open_console: Any,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    console = await open_console(dispatcher)
    await console.next("queue")
    await wait_until(hub_of(app_client).listener.connected.is_set)
    seen = await insert_signals(db, customers[0])
    cursor = (await console.signals(seen))[0]["cursor"]
    await insert_signals(db, customers[0], hub_of(app_client).catch_up_limit + 1, description="Backlog")

    behind = await open_console(dispatcher, after=cursor)
    assert (await behind.next("reload"))["type"] == "reload"
    for bad in ("nonsense", "99999999999-1"):
        foreign = await open_console(dispatcher, after=bad)
        assert (await foreign.next("reload"))["type"] == "reload"


async def test_shutting_down_closes_the_consoles_without_waiting_for_them(
    config: Config, database_url: str, customers: tuple[Customer, Customer]
) -> None:
    server = TestServer(create_app(config, database_url))
    client = TestClient(server)
    await client.start_server()
    try:
        portal = await logged_in(client, "dispatcher@example.com")
        ws = await portal.client.ws_connect("/dispatch/live")
        assert (await ws.receive_json())["type"] == "queue"
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 5.0
        # Read to the close frame: the listener connecting refreshes the queue, so another message may come first.
        message = await ws.receive(timeout=2.0)
        while message.type is WSMsgType.TEXT:
            message = await ws.receive(timeout=2.0)
        assert (message.type, message.data) == (WSMsgType.CLOSE, 1001)
    finally:
        await client.close()


async def test_a_signal_from_an_unknown_account_is_shown_as_such(
    app_client: TestClient[Any, Any], dispatcher: Portal, open_console: Any, db: asyncpg.Pool
) -> None:
    console = await open_console(dispatcher)
    await console.next("queue")
    await wait_until(hub_of(app_client).listener.connected.is_set)
    ids = await insert_signals(db, None, account="9F9F", description="Fire alarm")
    (message,) = await console.signals(ids)
    signal = message["signal"]
    assert (signal["account"], signal["known"], signal["customer_id"], signal["site_id"]) == ("9F9F", False, None, None)
    assert signal["category_label"] == "Alarms and emergencies" and signal["who"] == "Zone 001"

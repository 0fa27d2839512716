"""Domain events on a real PostgreSQL: payloads round-trip, and the Listener hears, catches up, reconnects, stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from shared.events import (
    OUTBOX,
    PANELS_CHANGED,
    SIGNALS,
    Listener,
    MailQueued,
    PanelChanged,
    SignalsCommitted,
    notify,
)


def test_payloads_round_trip_through_their_text() -> None:
    assert SignalsCommitted.decode(SignalsCommitted(10, 12, 3).encode()) == SignalsCommitted(10, 12, 3)
    assert PanelChanged.decode(PanelChanged("12AB").encode()) == PanelChanged("12AB")
    assert MailQueued.decode(MailQueued(7).encode()) == MailQueued(7)
    # What the batch writer's SQL sends (json_build_object spaces its output this way).
    assert SIGNALS.decode('{"first_id" : 1, "last_id" : 4, "count" : 4}') == SignalsCommitted(1, 4, 4)


@pytest.mark.parametrize(
    "payload", ["", "[1]", '{"first_id": 1, "last_id": 2}', '{"first_id": "1", "last_id": 2, "count": 1}']
)
def test_a_malformed_signals_payload_is_a_value_error(payload: str) -> None:
    with pytest.raises(ValueError):
        SIGNALS.decode(payload)


def test_malformed_panel_and_outbox_payloads_are_value_errors() -> None:
    with pytest.raises(ValueError):
        PANELS_CHANGED.decode("")
    with pytest.raises(ValueError):
        OUTBOX.decode("seven")


@asynccontextmanager
async def running(listener: Listener) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        yield task
    finally:
        listener.stop()
        await asyncio.wait_for(task, 10)


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - state filled by handlers the listener calls
            await asyncio.sleep(0.02)


async def backends(database_url: str, name: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            f"alarmhub {name}",
        )
        return count
    finally:
        await connection.close()


async def terminate(database_url: str, name: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1",
            f"alarmhub {name}",
        )
    finally:
        await connection.close()


def recorder() -> tuple[list[MailQueued], Callable[[asyncpg.Connection, MailQueued], Awaitable[None]]]:
    heard: list[MailQueued] = []

    async def handler(_connection: asyncpg.Connection, event: MailQueued) -> None:
        heard.append(event)

    return heard, handler


async def test_a_notification_reaches_its_handler_decoded(database_url: str) -> None:
    listener = Listener(database_url, name="test")
    heard, handler = recorder()
    listener.on(OUTBOX, handler)
    async with running(listener):
        sender = await asyncpg.connect(database_url)
        try:
            async with sender.transaction():
                await notify(sender, OUTBOX, MailQueued(41))
                await asyncio.sleep(0.2)
                assert heard == []  # NOTIFY is delivered at commit, never before
            await notify(sender, OUTBOX, MailQueued(42))
        finally:
            await sender.close()
        await eventually(lambda: heard == [MailQueued(41), MailQueued(42)])


async def test_what_commits_while_the_catch_up_runs_is_heard(database_url: str) -> None:
    """LISTEN is in place before the catch-up reads: a commit between the two is never missed."""
    listener = Listener(database_url, name="test")
    heard, handler = recorder()
    listener.on(OUTBOX, handler)
    caught_up: list[int] = []

    async def catch_up(connection: asyncpg.Connection) -> None:
        # Another process commits while this listener is reading the tables: the read cannot see it.
        sender = await asyncpg.connect(database_url)
        try:
            await notify(sender, OUTBOX, MailQueued(len(caught_up)))
        finally:
            await sender.close()
        caught_up.append(await connection.fetchval("SELECT 1"))

    listener.on_connect(catch_up)
    async with running(listener):
        await eventually(lambda: heard == [MailQueued(0)])
    assert caught_up == [1]


async def test_a_terminated_connection_is_replaced_and_caught_up(database_url: str) -> None:
    listener = Listener(database_url, name="test", min_backoff=0.05)
    heard, handler = recorder()
    listener.on(OUTBOX, handler)
    catch_ups: list[int] = []

    async def catch_up(connection: asyncpg.Connection) -> None:
        catch_ups.append(await connection.fetchval("SELECT pg_backend_pid()"))

    listener.on_connect(catch_up)
    async with running(listener):
        await terminate(database_url, "test")
        await eventually(lambda: len(catch_ups) == 2)
        assert catch_ups[0] != catch_ups[1] and listener.connections == 2
        await asyncio.wait_for(listener.connected.wait(), 10)
        sender = await asyncpg.connect(database_url)
        try:
            await notify(sender, OUTBOX, MailQueued(5))
        finally:
            await sender.close()
        await eventually(lambda: heard == [MailQueued(5)])


async def test_a_failing_handler_makes_the_listener_start_over_and_catch_up(database_url: str) -> None:
    listener = Listener(database_url, name="test", min_backoff=0.05)
    catch_ups: list[int] = []
    heard: list[MailQueued] = []

    async def handler(_connection: asyncpg.Connection, event: MailQueued) -> None:
        heard.append(event)
        if event.outbox_id == 1:
            raise RuntimeError("the handler's own failure")

    async def catch_up(_connection: asyncpg.Connection) -> None:
        catch_ups.append(len(catch_ups))

    listener.on(OUTBOX, handler)
    listener.on_connect(catch_up)
    async with running(listener):
        sender = await asyncpg.connect(database_url)
        try:
            await notify(sender, OUTBOX, MailQueued(1))
            await eventually(lambda: len(catch_ups) == 2)
            await asyncio.wait_for(listener.connected.wait(), 10)
            await notify(sender, OUTBOX, MailQueued(2))
        finally:
            await sender.close()
        await eventually(lambda: heard == [MailQueued(1), MailQueued(2)])


async def test_a_malformed_payload_is_skipped_and_listening_goes_on(database_url: str) -> None:
    listener = Listener(database_url, name="test")
    heard, handler = recorder()
    listener.on(OUTBOX, handler)
    async with running(listener):
        sender = await asyncpg.connect(database_url)
        try:
            await sender.execute("SELECT pg_notify('outbox', 'not a number')")
            await notify(sender, OUTBOX, MailQueued(3))
        finally:
            await sender.close()
        await eventually(lambda: heard == [MailQueued(3)])
    assert listener.connections == 1


async def test_a_scheduled_check_runs_once_after_its_delay(database_url: str) -> None:
    listener = Listener(database_url, name="test")
    runs: list[float] = []

    async def check(_connection: asyncpg.Connection) -> None:
        runs.append(asyncio.get_running_loop().time())

    async with running(listener):
        started = asyncio.get_running_loop().time()
        listener.schedule(check, 0.3)
        listener.schedule(check, 5.0)  # later than the one already due: the earlier stands
        await eventually(lambda: len(runs) == 1)
        await asyncio.sleep(0.5)
    assert len(runs) == 1 and runs[0] - started >= 0.3


async def test_stop_closes_the_connection_and_returns(database_url: str) -> None:
    listener = Listener(database_url, name="test")
    listener.on(OUTBOX, recorder()[1])
    async with running(listener) as task:
        assert await backends(database_url, "test") == 1
    assert task.done() and await backends(database_url, "test") == 0


async def test_a_listener_without_a_database_keeps_retrying_until_stopped() -> None:
    listener = Listener("postgresql://nobody@127.0.0.1:1/none", name="test", min_backoff=0.05, max_backoff=0.1)
    task = asyncio.create_task(listener.run())
    await asyncio.sleep(0.5)
    assert not task.done() and not listener.connected.is_set()
    listener.stop()
    await asyncio.wait_for(task, 5)


async def test_one_handler_per_channel() -> None:
    listener = Listener("postgresql://unused/", name="test")
    listener.on(OUTBOX, recorder()[1])
    with pytest.raises(ValueError):
        listener.on(OUTBOX, recorder()[1])

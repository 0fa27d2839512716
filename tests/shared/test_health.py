"""/healthz's database check (shared.health.database_state) against a database that stops answering: a server that
still accepts connections but answers nothing (a frozen host, a stuck pooler), seen through a TCP proxy that can
freeze. A query cancelled there waits for its cancel request with no deadline; the check must not."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from shared.db import create_pool
from shared.health import HEALTH_QUERY_TIMEOUT, OK, UNAVAILABLE, answered_within, database_state

T = TypeVar("T")


class FreezingProxy:
    """Forwards TCP to the database's host and port until frozen; frozen, it accepts connections and forwards
    nothing either way."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()  # every socket, closed at the end
        self.closing = False

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    if self.frozen.is_set():
                        await asyncio.Event().wait()  # swallowed, and nothing more is read
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        if self.closing:  # a connection that came as the proxy was closing (an abandoned query's cancel request)
            writer.close()
            return
        if self.frozen.is_set():
            self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await asyncio.Event().wait()
            finally:
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers.add(upstream_writer)
        for pipe in (self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)):
            task = asyncio.create_task(pipe)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def url(self, database_url: str) -> str:
        assert self.server is not None
        parts = urlsplit(database_url)
        port = self.server.sockets[0].getsockname()[1]
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@contextlib.asynccontextmanager
async def freezing_proxy(database_url: str) -> AsyncIterator[FreezingProxy]:
    parts = urlsplit(database_url)
    proxy = FreezingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
    try:
        yield proxy
    finally:
        proxy.closing = True
        proxy.server.close()
        await asyncio.sleep(0.2)  # connections accepted meanwhile reach _accept, which closes them
        for task in list(proxy.tasks):
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
        for writer in proxy.writers:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in proxy.writers), return_exceptions=True)


async def promptly(work: Awaitable[T], seconds: float = HEALTH_QUERY_TIMEOUT + 1.0) -> T:
    """`work`'s result, which must come within `seconds` (a check held by a query's cancellation would hang)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    assert task in done, f"no answer within {seconds} s"
    return task.result()


async def test_a_database_that_stops_answering_is_unavailable_within_the_timeout(database_url: str) -> None:
    async with freezing_proxy(database_url) as proxy:
        pool = await create_pool(proxy.url(database_url), min_size=1, max_size=2)
        try:
            assert await database_state(pool) == OK
            proxy.frozen.set()
            assert await promptly(database_state(pool)) == UNAVAILABLE
            assert await promptly(database_state(pool)) == UNAVAILABLE, "and again, with a connection still held"
        finally:
            pool.terminate()


async def test_answered_within_gives_the_result_or_gives_up_without_waiting_for_the_clean_up() -> None:
    async def quick() -> int:
        return 7

    cleaned_up = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.5)  # a clean-up that takes its time
            cleaned_up.set()

    assert await answered_within(1.0, quick()) == 7
    started = time.monotonic()
    try:
        await answered_within(0.1, stubborn())
    except TimeoutError:
        pass
    else:
        raise AssertionError("no TimeoutError")
    assert time.monotonic() - started < 0.4 and not cleaned_up.is_set()
    await asyncio.wait_for(cleaned_up.wait(), 2.0)  # it still ends, in the background


async def test_answered_within_passes_a_failure_on_and_cancels_the_work_with_its_caller() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise ConnectionRefusedError("no server")

    try:
        await answered_within(1.0, failing())
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the failure was lost")

    ended = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.set()

    caller = asyncio.create_task(answered_within(30.0, slow()))
    await asyncio.sleep(0.05)
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.wait_for(ended.wait(), 1.0)  # the work does not outlive its caller by more than its clean-up

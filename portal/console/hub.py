"""The console hub: one LISTEN connection per portal process, fanned out to every dispatcher's websocket.

What a console receives, as JSON text frames (a frame may carry several messages, one per line, when they were
waiting together; a message never contains a raw newline):

- `{"type": "signal", "cursor": "<xact>-<id>", "signal": {…}}` for every signal committed, in commit order;
- `{"type": "queue", …}` the open-incident queue (shared.incidents.queue.queue_json), on connecting and after
  every change (incidents_changed, debounced), and when a hold ends;
- `{"type": "reload"}`: the console is too far behind to be caught up (or its cursor is not this server's):
  load the page again.

Each socket has a bounded queue (dispatch.console_queue messages). The hub only ever puts into queues without
waiting, so a browser that stops reading fills its own queue and is cut (4008), never slowing the others; it
reconnects with `?after=<its last cursor>` and is caught up from the table (shared.signal_cursor.signals_after).
Every dispatch.session_recheck seconds each socket's session is checked as an HTTP request's is; a session that
ended, was revoked or lost the permission closes its socket (4001).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
from aiohttp import WSMsgType, web

from portal.auth.rules import Rule
from portal.auth.sessions import load_viewer
from shared import aio
from shared.catalogue.presentation import present
from shared.db import Pool
from shared.events import INCIDENTS, IncidentsChanged, Listener
from shared.incidents.queue import open_queue, queue_json
from shared.logs import get_logger
from shared.signal_cursor import CursorAhead, SignalCursor, SignalFollower, signals_after

log = get_logger(__name__)

# Close codes (4000-4999: the application's own, RFC 6455 7.4.2).
SESSION_ENDED: Final = 4001
TOO_SLOW: Final = 4008
GOING_AWAY: Final = 1001

RELOAD: Final = b'{"type":"reload"}'
# Messages sent in one frame at most (they wait together only when a burst arrives faster than the socket drains).
FRAME_MESSAGES: Final = 200
# How long closing a socket may take before its connection is simply dropped (a browser that does not read never
# answers the close).
CLOSE_TIMEOUT: Final = 2.0
CATCH_UP_PAGE: Final = 500


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def signal_json(row: asyncpg.Record) -> dict[str, Any]:
    """A signal as a console shows it: the catalogue's presentation and what a dispatcher needs beside it."""
    line = present(row)
    return {
        "id": row["id"],
        "received_at": row["received_at"].isoformat(),
        "account": row["account"],
        "known": row["panel_id"] is not None,
        "customer_id": row["customer_id"],
        "site_id": row["site_id"],
        "category": line.category.value,
        "category_label": line.category_label,
        "text": line.text,
        "is_restore": line.is_restore,
        "who": line.who,
        "area": line.area,
        "code": line.code,
        "qualifier": row["qualifier"],
        "alarm_type": row["alarm_type"],
        "priority": row["priority"],
        "sequence": row["sequence"],
        "transport": row["transport"],
    }


def signal_message(row: asyncpg.Record) -> tuple[SignalCursor, bytes]:
    cursor = SignalCursor(row["xact"], row["id"])
    return cursor, _dumps({"type": "signal", "cursor": str(cursor), "signal": signal_json(row)})


@dataclass(eq=False)
class ConsoleSocket:
    """One dispatcher's open console: its websocket, its session, and the messages waiting for it."""

    ws: web.WebSocketResponse
    request: web.Request
    session_token: str
    user_id: int
    queue: asyncio.Queue[tuple[SignalCursor | None, bytes]]
    last_cursor: SignalCursor | None = None  # the last signal sent: anything at or before it is not sent again
    closing: bool = False
    # Until the catch-up has been sent: a queue that fills meanwhile means "too far behind" (reload), not "slow".
    catching_up: bool = True
    overflowed: bool = False
    close_code: int | None = None
    writer: asyncio.Task[None] | None = None
    closer: asyncio.Task[None] | None = None
    sent: int = field(default=0)  # messages written, for tests and logs

    def offer(self, cursor: SignalCursor | None, data: bytes) -> bool:
        """Queue a message without waiting; a full queue cuts the socket (False)."""
        if self.closing:
            return False
        try:
            self.queue.put_nowait((cursor, data))
        except asyncio.QueueFull:
            if self.catching_up:
                self.overflowed = True
            else:
                self.cut(TOO_SLOW, "too slow")
            return False
        return True

    def fresh(self, cursor: SignalCursor | None) -> bool:
        """Whether a message is new to this socket (catch-up and the live feed may both carry a signal)."""
        if cursor is None:
            return True
        if self.last_cursor is not None and cursor <= self.last_cursor:
            return False
        self.last_cursor = cursor
        return True

    async def send_now(self, cursor: SignalCursor | None, data: bytes) -> None:
        """Send straight away (the catch-up, before the writer starts)."""
        if self.fresh(cursor):
            await self.ws.send_frame(data, WSMsgType.TEXT)
            self.sent += 1

    async def write(self) -> None:
        """Send what is queued, in order; whatever waits together goes out in one frame."""
        queue = self.queue
        while True:
            cursor, data = await queue.get()
            batch = [data] if self.fresh(cursor) else []
            while not queue.empty() and len(batch) < FRAME_MESSAGES:
                cursor, data = queue.get_nowait()
                if self.fresh(cursor):
                    batch.append(data)
            if batch:
                await self.ws.send_frame(b"\n".join(batch), WSMsgType.TEXT)
                self.sent += len(batch)

    def cut(self, code: int, reason: str) -> None:
        """Close the socket with `code` (in the background: the caller never waits for a browser)."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        log.info("console closed", user_id=self.user_id, code=code, reason=reason, waiting=self.queue.qsize())
        self.closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.writer
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=reason.encode())
            return
        except Exception:  # noqa: S110 - timed out (it does not read) or the connection failed: drop it below
            pass
        transport = self.request.transport
        if transport is not None:
            transport.abort()  # a browser that never reads our close frame: drop the connection


class ConsoleHub:
    """Follows the signals and the incidents on one Listener and fans them out to the sockets attached."""

    def __init__(
        self,
        database_url: str,
        pool: Pool,
        *,
        rule: Rule,
        queue_size: int,
        session_recheck: float,
        debounce: float = 0.05,
        catch_up_limit: int | None = None,
    ) -> None:
        self.pool = pool
        self.rule = rule  # who may keep a console open: the route's own access rule
        self.queue_size = queue_size
        self.session_recheck = session_recheck
        self.debounce = debounce
        # A browser further behind than this is told to reload rather than sent its whole backlog.
        self.catch_up_limit = catch_up_limit if catch_up_limit is not None else queue_size
        self.sockets: set[ConsoleSocket] = set()
        self.listener = Listener(database_url, name="console")
        # A page is handed to every queue at once: half a queue at most, so a socket that keeps up is never cut.
        # Rows held back behind a transaction that sends no NOTIFY (anyone's, anywhere on the server) are looked
        # for again every 50 ms rather than the follower's default quarter second: a dispatcher is waiting.
        self.follower = SignalFollower(
            self.listener, self._deliver, page_size=max(1, min(500, queue_size // 2)), recheck=0.05
        )
        self.listener.on(INCIDENTS, self._incidents_changed)
        self.listener.on_connect(self._reconnected)
        self.queue_snapshot: bytes | None = None
        self.delivered = 0  # signals handed to the sockets, for tests and logs
        self._queue_dirty = asyncio.Event()
        self._release_timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.listener.run(), name="console listener"),
            loop.create_task(self._queue_loop(), name="console queue"),
            loop.create_task(self._recheck_loop(), name="console sessions"),
        ]

    async def stop(self) -> None:
        await self.close_all(GOING_AWAY, "server shutting down")
        self.listener.stop()
        if self._release_timer is not None:
            self._release_timer.cancel()
        listener, *others = self._tasks
        for task in others:
            task.cancel()
        try:
            async with asyncio.timeout(5):
                await listener
        except TimeoutError:
            listener.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close_all(self, code: int, reason: str) -> None:
        for socket in list(self.sockets):
            socket.cut(code, reason)
        closers = [s.closer for s in self.sockets if s.closer is not None]
        await asyncio.gather(*closers, return_exceptions=True)

    # -- sockets ----------------------------------------------------------------------------------------------------

    def new_socket(self, ws: web.WebSocketResponse, request: web.Request, token: str, user_id: int) -> ConsoleSocket:
        return ConsoleSocket(ws, request, token, user_id, asyncio.Queue(maxsize=self.queue_size))

    async def attach(self, socket: ConsoleSocket, after: str | None) -> None:
        """Start feeding a socket: first what it missed since `after` (if given), the queue, then the live feed.

        It is registered before the catch-up reads the table, so nothing committed meanwhile falls between the
        two; what both carry is sent once (ConsoleSocket.fresh).
        """
        self.sockets.add(socket)
        if after is not None and not await self._catch_up(socket, after):
            return
        socket.catching_up = False
        if socket.overflowed:
            await self._reload(socket, "too far behind")
            return
        snapshot = self.queue_snapshot
        if snapshot is None:
            async with self.pool.acquire() as connection:
                snapshot = await self._read_queue(connection)
        await socket.send_now(None, snapshot)
        socket.writer = asyncio.get_running_loop().create_task(self._write(socket))

    def detach(self, socket: ConsoleSocket) -> None:
        self.sockets.discard(socket)
        if socket.writer is not None:
            socket.writer.cancel()

    async def _write(self, socket: ConsoleSocket) -> None:
        try:
            await socket.write()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the connection went away under a send: the handler's read loop ends too
            log.info("console send failed", user_id=socket.user_id, error=f"{type(error).__name__}: {error}")
            socket.cut(GOING_AWAY, "send failed")

    async def _catch_up(self, socket: ConsoleSocket, after: str) -> bool:
        """Send the signals committed after `after`; False (and a reload) when that is not possible."""
        try:
            cursor = SignalCursor.parse(after)
        except ValueError:
            cursor = None
        if self.follower.cursor is None:
            # The hub is starting: it must know where its feed begins, or rows between the two could be missed.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self.listener.connected.wait()
        # The hub has handed the sockets everything up to its cursor now; what comes after reaches this socket's
        # queue. Read until the catch-up has reached that point, so no row lies between the two.
        target = self.follower.cursor
        missed: list[tuple[SignalCursor, bytes]] = []
        if cursor is not None:
            async with self.pool.acquire() as connection:
                deadline = time.monotonic() + 5.0
                while len(missed) <= self.catch_up_limit:
                    try:
                        page = await signals_after(connection, cursor, CATCH_UP_PAGE)
                    except CursorAhead:
                        cursor = None
                        break
                    missed += (signal_message(row) for row in page.rows)
                    cursor = page.cursor
                    if len(page.rows) == CATCH_UP_PAGE:
                        continue
                    if target is None or cursor >= target or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)  # rows held back behind an open transaction: wait for the horizon
        if cursor is None or len(missed) > self.catch_up_limit:
            await self._reload(socket, "cannot catch up")
            return False
        for message in missed:
            await socket.send_now(*message)
        return True

    async def _reload(self, socket: ConsoleSocket, reason: str) -> None:
        socket.catching_up = False
        await socket.ws.send_frame(RELOAD, WSMsgType.TEXT)
        socket.cut(1000, reason)

    # -- the feed ---------------------------------------------------------------------------------------------------

    async def _deliver(self, rows: Sequence[asyncpg.Record], _cursor: SignalCursor) -> None:
        messages = [signal_message(row) for row in rows]
        self.delivered += len(messages)
        for socket in list(self.sockets):
            for cursor, data in messages:
                if not socket.offer(cursor, data):
                    break

    async def _incidents_changed(self, _connection: asyncpg.Connection, _event: IncidentsChanged) -> None:
        self._queue_dirty.set()

    async def _reconnected(self, _connection: asyncpg.Connection) -> None:
        # Notices sent while no connection listened are gone: read the queue again whatever happened.
        self._queue_dirty.set()

    def refresh_queue(self) -> None:
        """Read the queue again soon (a hold ended, or a caller knows it changed)."""
        self._queue_dirty.set()

    async def _queue_loop(self) -> None:
        """One queue read per burst of changes, at most `debounce` after the first of them."""
        while True:
            await self._queue_dirty.wait()
            await aio.sleep(self.debounce)
            self._queue_dirty.clear()
            try:
                async with self.pool.acquire() as connection:
                    snapshot = await self._read_queue(connection)
            except Exception as error:  # the database is away: try again shortly, the consoles keep the last one
                log.warning("console queue read failed", error=f"{type(error).__name__}: {error}")
                await aio.sleep(1.0)
                self._queue_dirty.set()
                continue
            for socket in list(self.sockets):
                # A socket still attaching gets it after what it is being sent: never an older one last.
                socket.offer(None, snapshot)

    async def _read_queue(self, connection: Any) -> bytes:
        queue = await open_queue(connection)
        snapshot = _dumps({"type": "queue", **queue_json(queue)})
        self.queue_snapshot = snapshot
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        if queue.next_release is not None:
            delay = max(0.0, (queue.next_release - queue.at).total_seconds()) + 0.05
            self._release_timer = asyncio.get_running_loop().call_later(delay, self.refresh_queue)
        return snapshot

    # -- sessions ---------------------------------------------------------------------------------------------------

    async def _recheck_loop(self) -> None:
        while True:
            await aio.sleep(self.session_recheck)
            try:
                await self.recheck_sessions()
            except Exception as error:  # the database is away: keep the consoles, check again next time
                log.warning("console session check failed", error=f"{type(error).__name__}: {error}")

    async def recheck_sessions(self) -> None:
        """Close every socket whose session no longer admits it, checked as an HTTP request's session is."""
        by_token: dict[str, list[ConsoleSocket]] = {}
        for socket in self.sockets:
            if not socket.closing:
                by_token.setdefault(socket.session_token, []).append(socket)
        for token, sockets in by_token.items():
            viewer = await load_viewer(self.pool, token)
            if viewer is None or not self.rule.admits(viewer):
                for socket in sockets:
                    socket.cut(SESSION_ENDED, "session ended")

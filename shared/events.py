"""Domain events: every NOTIFY channel with its payload type, and the one LISTEN loop that follows them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from shared.aio import wait_or_timeout
from shared.db import Connection
from shared.logs import get_logger

log = get_logger(__name__)


class Payload(Protocol):
    """What every event type offers: its NOTIFY payload as text (and a `decode` classmethod back)."""

    def encode(self) -> str: ...


P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class SignalsCommitted:
    """A batch of signals has committed (sent by the receiver's batch writer, one NOTIFY per batch).

    The id range only says roughly which rows: ids are not in commit order when writers commit concurrently, so a
    listener reads the rows through shared.signal_cursor, never by `id > last_seen`.
    """

    first_id: int
    last_id: int
    count: int

    def encode(self) -> str:
        return json.dumps({"first_id": self.first_id, "last_id": self.last_id, "count": self.count})

    @classmethod
    def decode(cls, payload: str) -> SignalsCommitted:
        fields = json.loads(payload)
        if not isinstance(fields, dict):
            raise ValueError(f"not a JSON object: {payload[:80]!r}")
        return cls(_integer(fields, "first_id"), _integer(fields, "last_id"), _integer(fields, "count"))


@dataclass(frozen=True, slots=True)
class PanelChanged:
    """A panel's account, key, site or expected receiver/line changed, or its site changed hands (sql/0002, 0003).

    Sent for the old and the new account when an account is renamed; the panel may no longer exist.
    """

    account: str

    def encode(self) -> str:
        return self.account

    @classmethod
    def decode(cls, payload: str) -> PanelChanged:
        if not payload:
            raise ValueError("empty account")
        return cls(payload)


@dataclass(frozen=True, slots=True)
class MailQueued:
    """A mail was queued in the outbox (delivered with the commit that queued it)."""

    outbox_id: int

    def encode(self) -> str:
        return str(self.outbox_id)

    @classmethod
    def decode(cls, payload: str) -> MailQueued:
        return cls(int(payload))


@dataclass(frozen=True, slots=True)
class IncidentsChanged:
    """Incidents were opened, joined, taken, acted on or closed (every writer of incidents sends it, in the same
    transaction): a console reads the queue again, a page showing one of `ids` refreshes it."""

    ids: tuple[int, ...]

    def encode(self) -> str:
        return json.dumps({"ids": list(self.ids)})

    @classmethod
    def decode(cls, payload: str) -> IncidentsChanged:
        fields = json.loads(payload)
        if not isinstance(fields, dict) or not isinstance(fields.get("ids"), list):
            raise ValueError(f"not an incidents notice: {payload[:80]!r}")
        ids = fields["ids"]
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError(f"incident ids must be integers: {payload[:80]!r}")
        return cls(tuple(ids))


@dataclass(frozen=True, slots=True)
class Channel(Generic[P]):
    """A NOTIFY channel and how its payload reads: `Channel[SignalsCommitted]` carries SignalsCommitted."""

    name: str
    decode: Callable[[str], P]


SIGNALS: Channel[SignalsCommitted] = Channel("signals", SignalsCommitted.decode)
PANELS_CHANGED: Channel[PanelChanged] = Channel("panels_changed", PanelChanged.decode)
OUTBOX: Channel[MailQueued] = Channel("outbox", MailQueued.decode)
INCIDENTS: Channel[IncidentsChanged] = Channel("incidents_changed", IncidentsChanged.decode)
# A premises' call list changed (shared.call_list.CALL_LIST); the payload is "<customer>:<site>".
CALL_LIST_CHANNEL = "call_list_changed"


async def notify(connection: Connection, channel: Channel[P], event: P) -> None:
    """NOTIFY `event` on `channel`; inside a transaction it is delivered at commit, and not at all on rollback."""
    await connection.execute("SELECT pg_notify($1, $2)", channel.name, event.encode())


def _integer(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} is not an integer: {value!r}")
    return value


# What a handler, a catch-up hook or a scheduled check is given: the listener's own connection, to read with.
Hook = Callable[[asyncpg.Connection], Awaitable[None]]
Handler = Callable[[asyncpg.Connection, P], Awaitable[None]]


class _ConnectionLost(Exception):
    """The LISTEN connection ended under us (terminated, network gone): reconnect and catch up."""


_LOST = object()  # queued by asyncpg's termination callback
_WAKE = object()  # queued to make the loop look at its schedule and stop flag again


class Listener:
    """LISTEN on its own connection, reconnecting with backoff; handlers per channel; catch-up after connecting.

    NOTIFY is fire-and-forget: whatever is sent while no connection listens is gone. So after every (re)connect,
    once LISTEN is in place, the catch-up hooks run and read the state from the tables: anything committed
    before LISTEN took effect is in the tables, anything after arrives as a notification (at worst both, so
    handlers and hooks must be idempotent). Handlers, hooks and scheduled checks run one at a time, in order, on
    the listener's connection. An exception in any of them is treated like a lost connection: logged, the
    connection closed, and after the backoff a new one listens and catches up, so a failure never loses an event.
    """

    def __init__(
        self,
        database_url: str,
        *,
        name: str,
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
        probe_every: float = 30.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.database_url = database_url
        self.name = name
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.probe_every = probe_every
        self.command_timeout = command_timeout
        self.connected = asyncio.Event()  # set while listening and caught up; tests and health checks read it
        self.connections = 0  # how many times a connection has listened and caught up
        self._handlers: dict[str, Callable[[asyncpg.Connection, str], Awaitable[None]]] = {}
        self._catch_up: list[Hook] = []
        self._scheduled: dict[Hook, float] = {}
        self._queue: asyncio.Queue[object] = asyncio.Queue()  # (channel, payload), _LOST or _WAKE
        self._stopping = asyncio.Event()
        self._log = log.bind(listener=name)

    def on(self, channel: Channel[P], handler: Handler[P]) -> None:
        """Call `handler(connection, payload)` for each notification on `channel` (one handler per channel)."""
        if channel.name in self._handlers:
            raise ValueError(f"{channel.name} already has a handler in listener {self.name}")

        async def decoded(connection: asyncpg.Connection, payload: str) -> None:
            try:
                event = channel.decode(payload)
            except ValueError as error:  # nothing to act on; the next catch-up reads the tables anyway
                self._log.warning("malformed notification ignored", channel=channel.name, error=str(error))
                return
            await handler(connection, event)

        self._handlers[channel.name] = decoded

    def on_connect(self, hook: Hook) -> None:
        """Await `hook(connection)` after every (re)connect, once LISTEN is in place; hooks run in order."""
        self._catch_up.append(hook)

    def schedule(self, hook: Hook, delay: float) -> None:
        """Run `hook(connection)` once, `delay` seconds from now (sooner if it is scheduled sooner already).

        For re-checks and periodic work; forgotten on reconnect, where the catch-up hooks run instead.
        """
        due = time.monotonic() + delay
        self._scheduled[hook] = min(due, self._scheduled.get(hook, due))
        self._queue.put_nowait(_WAKE)  # wake the loop to recompute its timeout

    def stop(self) -> None:
        """Ask run() to return: it finishes the handler in progress, closes its connection and returns."""
        self._stopping.set()
        self._queue.put_nowait(_WAKE)

    async def run(self) -> None:
        """Listen until stop() (or cancellation), reconnecting after any failure."""
        backoff = self.min_backoff
        attempt = 0
        while not self._stopping.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self.database_url,
                    command_timeout=self.command_timeout,
                    server_settings={"application_name": f"alarmhub {self.name}"},  # named in pg_stat_activity
                )
                await self._listen(connection)
                for hook in self._catch_up:
                    await hook(connection)
                self.connections += 1
                self._log.info("listening", channels=sorted(self._handlers), after_failures=attempt)
                self.connected.set()
                backoff, attempt = self.min_backoff, 0
                await self._serve(connection)
            except Exception as error:  # any database, driver or handler failure: reconnect, never let the task die
                self.connected.clear()
                attempt += 1
                delay = backoff * random.uniform(0.5, 1.0)  # jitter: many processes must not reconnect in step
                self._log.warning(
                    "listener lost its connection; reconnecting",
                    error=f"{type(error).__name__}: {error}",
                    attempt=attempt,
                    retry_in=round(delay, 2),
                )
                await wait_or_timeout(self._stopping.wait(), delay)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self.connected.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):  # a failed close must not end the listener
                        await connection.close(timeout=1)
        self._log.info("listener stopped")

    async def _listen(self, connection: asyncpg.Connection) -> None:
        # A fresh queue per connection: notices left from the old one are covered by the catch-up about to run.
        self._queue = asyncio.Queue()
        self._scheduled.clear()
        queue = self._queue
        if self._stopping.is_set():
            queue.put_nowait(_WAKE)

        def on_notification(_connection: object, _pid: int, channel: str, payload: object) -> None:
            queue.put_nowait((channel, str(payload)))

        def on_termination(_connection: object) -> None:
            queue.put_nowait(_LOST)

        connection.add_termination_listener(on_termination)
        for channel in self._handlers:
            await connection.add_listener(channel, on_notification)

    async def _serve(self, connection: asyncpg.Connection) -> None:
        """Handle notifications and scheduled checks until stop(); raise when the connection is lost."""
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            next_due = min(self._scheduled.values(), default=now + self.probe_every)
            wait = max(0.0, min(next_due, idle_since + self.probe_every) - now)
            item = await wait_or_timeout(self._queue.get(), wait)
            while item is not None:  # everything queued by now first: handlers may coalesce into one scheduled read
                if item is _LOST or connection.is_closed():
                    raise _ConnectionLost("the database closed the connection")
                if isinstance(item, tuple):
                    channel, payload = item
                    await self._handlers[channel](connection, payload)
                    idle_since = time.monotonic()
                item = None if self._queue.empty() else self._queue.get_nowait()
            if connection.is_closed():
                raise _ConnectionLost("the database closed the connection")
            now = time.monotonic()
            for hook, due in list(self._scheduled.items()):
                if due <= now:
                    del self._scheduled[hook]
                    await hook(connection)
                    idle_since = time.monotonic()
            if time.monotonic() - idle_since >= self.probe_every:
                # A half-open connection (network cut, server gone without a word) never reports itself.
                await connection.fetchval("SELECT 1", timeout=min(self.command_timeout, 10.0))
                idle_since = time.monotonic()

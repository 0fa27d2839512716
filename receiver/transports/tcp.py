"""DC-09 over TCP: many frames per connection, answered in order, with limits on size, idleness and slow readers."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

from structlog.stdlib import BoundLogger

from receiver import metrics
from receiver.connection_ids import next_connection_id
from receiver.dc09 import FrameSplitter
from receiver.ingest import Ingestor, PendingAnswer
from shared.logs import get_logger

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TcpLimits:
    max_frame_length: int = 1024
    max_connections: int = 10_000
    idle_timeout: float = 600.0
    write_timeout: float = 10.0
    frame_timeout: float = 30.0  # a frame begun must end within this; a trickle of bytes does not keep it alive
    # One address (an IPv6 host: its /64) holding thousands of idle sockets must not fill max_connections for everyone.
    max_connections_per_address: int = 1000  # 0: no cap
    address_cap_log_interval: float = 60.0  # a refused address is logged at most once in this many seconds


_PRUNE_AT_LEAST = 1024  # addresses remembered as logged before the stale ones are dropped


def address_key(address: str) -> str:
    """What the per-address cap counts: an IPv4 address as it is; an IPv6 one by its /64, which one host or one
    subscriber line normally holds whole (counting full addresses, one host could fill the global limit); an
    IPv4-mapped IPv6 address as the IPv4 address it maps."""
    if ":" not in address:
        return address
    try:
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64)))


class _Connections:
    """The open connections and how many each address holds, so that the server can refuse past the limits."""

    def __init__(self, limits: TcpLimits) -> None:
        self.open: set[DC09Connection] = set()
        self.per_address: dict[str, int] = {}  # only addresses with a connection open: one leaves the map at zero
        self._log_interval = limits.address_cap_log_interval
        self._logged: dict[str, float] = {}  # address -> when its last refusal at the cap was logged (loop time)
        self._prune_at = _PRUNE_AT_LEAST
        self._limit_logged_at: float | None = None  # when a refusal at max_connections was last logged

    def refused_at_limit(self, now: float) -> bool:
        """Count a connection refused at max_connections; True when it is to be logged (once an interval)."""
        metrics.LIMIT_REFUSED.inc()
        if self._limit_logged_at is not None and now - self._limit_logged_at < self._log_interval:
            return False
        self._limit_logged_at = now
        return True

    def refused_at_address_cap(self, address: str, now: float) -> bool:
        """Count a connection refused at the address cap; True when it is to be logged (once an interval per address).

        A flood of refusals must not flood the log. Addresses logged longer ago than the interval are forgotten
        when the map has doubled since it was last pruned: its size follows the addresses refused in the last
        interval, at a cost per refusal that stays constant.
        """
        metrics.ADDRESS_CAP_REFUSED.inc()
        logged = self._logged
        last = logged.get(address)
        if last is not None and now - last < self._log_interval:
            return False
        logged[address] = now
        if len(logged) >= self._prune_at:
            for stale in [key for key, when in logged.items() if now - when >= self._log_interval]:
                del logged[stale]
            self._prune_at = max(_PRUNE_AT_LEAST, 2 * len(logged))
        return True


class DC09Connection(asyncio.Protocol):
    """One panel's (or communicator's) TCP connection.

    Answers leave in the order their frames arrived: a NAK for frame 2 never overtakes the ACK of frame 1 that
    is still waiting for its commit.
    """

    def __init__(self, ingestor: Ingestor, limits: TcpLimits, registry: _Connections) -> None:
        self._ingestor = ingestor
        self._limits = limits
        self._registry = registry
        self._splitter = FrameSplitter(limits.max_frame_length)
        self._queue: deque[bytes | PendingAnswer | None] = deque()
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._connection_id = ""
        self._address = ""  # the peer's address without its port: the key of the per-address count
        self._loop = asyncio.get_running_loop()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._partial_since: float | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._peer = f"{peer[0]}:{peer[1]}"
            address = address_key(peer[0])
        else:
            address = self._peer = str(peer)
        self._connection_id = next_connection_id()
        registry, limits = self._registry, self._limits
        # Checked before the global limit: an address over its cap is logged once a minute, not once a connection.
        held = registry.per_address.get(address, 0)
        if held >= limits.max_connections_per_address > 0:
            if registry.refused_at_address_cap(address, self._loop.time()):
                self._log().warning(
                    "connection refused: too many connections from this address",
                    address=address,
                    limit=limits.max_connections_per_address,
                )
            transport.abort()  # before anything is read: the reader is not started once the transport is closing
            return
        if len(registry.open) >= limits.max_connections:
            if registry.refused_at_limit(self._loop.time()):  # logged once an interval, counted every time
                self._log().warning("connection refused: too many connections", limit=limits.max_connections)
            transport.abort()
            return
        if _stdlib_log.isEnabledFor(logging.DEBUG):  # connections are many: at info this costs one call
            self._log().debug("connection opened")
        registry.open.add(self)
        registry.per_address[address] = held + 1
        self._address = address
        metrics.CONNECTIONS.inc()
        transport.set_write_buffer_limits(high=64 * 1024)
        self._reset_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        registry = self._registry
        if self in registry.open:  # admitted: counted in open and per address (a refused one is in neither)
            registry.open.discard(self)
            held = registry.per_address[self._address] - 1
            if held:
                registry.per_address[self._address] = held
            else:
                del registry.per_address[self._address]
            metrics.CONNECTIONS.dec()
            if _stdlib_log.isEnabledFor(logging.DEBUG):
                self._log().debug("connection ended", error=None if exc is None else str(exc))
        for timer in (self._idle_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._reset_idle_timer()
        items = self._splitter.feed(data)
        if not self._splitter.buffered:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = self._loop.time()
            self._loop.call_later(self._limits.frame_timeout, self._check_partial, self._partial_since)
        for item in items:
            result = self._ingestor.receive(item, "tcp", self._peer)
            self._queue.append(result)
            if isinstance(result, PendingAnswer):
                result.when_settled(self._send_ready)
        self._send_ready()

    def _send_ready(self) -> None:
        """Write every answer at the head of the queue that is ready, in arrival order."""
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, PendingAnswer):
                if not head.settled:
                    return
                answer = head.answer()
            else:
                answer = head
            queue.popleft()
            if answer is not None and self._transport is not None:
                self._transport.write(answer)

    # -- flow control: a reader that stops reading answers is cut off after write_timeout

    def pause_writing(self) -> None:
        self._write_timer = self._loop.call_later(self._limits.write_timeout, self._cut, "slow reader")

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _reset_idle_timer(self) -> None:
        # Re-arming a timer on every read costs more than the read; note the time and check when the timer fires.
        self._last_activity = self._loop.time()
        if self._idle_timer is None:
            self._idle_timer = self._loop.call_later(self._limits.idle_timeout, self._check_idle)

    def _check_partial(self, since: float) -> None:
        if self._partial_since == since:  # the same unfinished frame is still waiting for its end
            self._cut("frame not completed in time")

    def _check_idle(self) -> None:
        silent_for = self._loop.time() - self._last_activity
        if silent_for >= self._limits.idle_timeout:
            self._idle_timer = None
            self._cut("idle")
        else:
            self._idle_timer = self._loop.call_later(self._limits.idle_timeout - silent_for, self._check_idle)

    def _log(self) -> BoundLogger:
        """A logger bound to this connection (its id and peer), made when a line is written, never per frame."""
        return log.bind(connection_id=self._connection_id, peer=self._peer)

    def _cut(self, reason: str) -> None:
        if self._transport is not None:
            self._log().info("connection closed", reason=reason)
            self._transport.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class TcpReceiver:
    """A listening DC-09 TCP server and its open connections."""

    def __init__(self, server: asyncio.Server, registry: _Connections) -> None:
        self._server = server
        self._registry = registry

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def connections_per_address(self) -> Mapping[str, int]:
        """Open connections by peer address (without port), read-only: only addresses holding one are in it."""
        return MappingProxyType(self._registry.per_address)

    async def close(self) -> None:
        """Stop listening and drop every connection (a panel reconnects and retransmits what was not ACKed)."""
        self._server.close()
        for connection in list(self._registry.open):
            connection.abort()
        await self._server.wait_closed()


async def start_tcp_server(ingestor: Ingestor, host: str, port: int, limits: TcpLimits) -> TcpReceiver:
    registry = _Connections(limits)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DC09Connection(ingestor, limits, registry),
        host,
        port,
        reuse_address=True,
        reuse_port=True,
        backlog=1024,
    )
    return TcpReceiver(server, registry)

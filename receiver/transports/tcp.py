"""DC-09 over TCP: many frames per connection, answered in order, with limits on size, idleness and slow readers."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
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


class _Connections:
    """Counts open connections so that the server can refuse past the limit."""

    def __init__(self) -> None:
        self.open: set[DC09Connection] = set()


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
        self._loop = asyncio.get_running_loop()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._partial_since: float | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._connection_id = next_connection_id()
        if len(self._registry.open) >= self._limits.max_connections:
            self._log().warning("connection refused: too many connections")
            transport.abort()
            return
        if _stdlib_log.isEnabledFor(logging.DEBUG):  # connections are many: at info this costs one call
            self._log().debug("connection opened")
        self._registry.open.add(self)
        metrics.CONNECTIONS.inc()
        transport.set_write_buffer_limits(high=64 * 1024)
        self._reset_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self._registry.open:
            self._registry.open.discard(self)
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

    async def close(self) -> None:
        """Stop listening and drop every connection (a panel reconnects and retransmits what was not ACKed)."""
        self._server.close()
        for connection in list(self._registry.open):
            connection.abort()
        await self._server.wait_closed()


async def start_tcp_server(ingestor: Ingestor, host: str, port: int, limits: TcpLimits) -> TcpReceiver:
    registry = _Connections()
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

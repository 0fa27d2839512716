"""Panel-side clients that send a frame, wait for its answer, then send the next — as real panels do.

Written on asyncio.Protocol with no per-frame tasks or timers, no copy of an answer that arrives whole, and one
clock read per frame, so that a benchmark measures the receiver, not itself (`python -m bench.client_floor`
measures what the client costs).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from receiver.simulator.traffic import VirtualPanel

# Answer frames: LF, 4 CRC digits, 4 length digits, then the quoted ID: the kind sits at a fixed offset.
_KIND_AT = slice(9, 15)
_TIMER_RESOLUTION = 0.001  # the event loop's timers fire to the millisecond
_clock = time.perf_counter


def answer_kind(answer: bytes) -> str:
    head = answer[_KIND_AT]
    if b"ACK" in head:
        return "ack"
    if b"NAK" in head:
        return "nak"
    if b"DUH" in head:
        return "duh"
    return "other"


@dataclass(slots=True)
class Tally:
    """Counts and latencies of one run."""

    sent: int = 0
    answers: dict[str, int] = field(default_factory=lambda: {"ack": 0, "nak": 0, "duh": 0, "other": 0})
    timeouts: int = 0
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)
    acked_frames: list[bytes] = field(default_factory=list)
    keep_frames: bool = False

    def answered(self, kind: str, latency: float, frame: bytes) -> None:
        """Count one answer (PanelSession.answered does the same inline: it runs for every frame)."""
        self.answers[kind] += 1
        self.latencies.append(latency)
        if self.keep_frames and kind == "ack":
            self.acked_frames.append(frame)

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def acked(self) -> int:
        return self.answers["ack"]

    def summary(self, seconds: float) -> str:
        return (
            f"sent={self.sent} acked={self.acked} naked={self.answers['nak']} duh={self.answers['duh']} "
            f"timeouts={self.timeouts} rate={self.acked / seconds:.0f}/s "
            f"p50={self.percentile(0.50) * 1000:.2f}ms p99={self.percentile(0.99) * 1000:.2f}ms "
            f"max={max(self.latencies, default=0) * 1000:.2f}ms"
        )


class PanelSession:
    """Shared state of one virtual panel's exchange loop, whatever carries its frames.

    The answer timeout costs nothing per frame: `next` only records the frame's deadline, and one watchdog timer per
    session (armed when none is pending) fires at most once per `answer_timeout`, re-arming itself for the current
    frame's deadline until an answer is overdue. A timer armed and cancelled per frame cost more than the rest of
    the client's Python code together.
    """

    def __init__(
        self,
        panel: VirtualPanel,
        tally: Tally,
        *,
        interval: float,
        stop_at: float,
        answer_timeout: float,
        on_done: Callable[[], None],
    ) -> None:
        self.panel = panel
        self.tally = tally
        self.interval = interval
        self.stop_at = stop_at
        self.answer_timeout = answer_timeout
        self.on_done = on_done
        self.loop = asyncio.get_running_loop()
        self.outstanding: bytes | None = None
        self.sent_at = 0.0
        self.deadline = 0.0  # when the outstanding frame's answer is overdue (perf_counter)
        self.watchdog: asyncio.TimerHandle | None = None
        self.timer: asyncio.TimerHandle | None = None  # no longer armed per frame; kept for subclasses that test it
        self.send: Callable[[bytes], None] = lambda _: None
        self.finished = False
        self.reconnect: Callable[[], Awaitable[None]] | None = None
        self.reconnecting: asyncio.Task[None] | None = None

    def closed(self) -> None:
        """The connection dropped: reconnect and retransmit the unanswered frame, as a panel does, or finish."""
        self._disarm()
        if self.finished:
            return
        if self.reconnect is not None and _clock() < self.stop_at:
            self.reconnecting = self.loop.create_task(self._reconnect(self.reconnect))
            return
        if self.outstanding is not None:
            self.tally.timeouts += 1
            self.outstanding = None
        self._finish()

    async def _reconnect(self, connect: Callable[[], Awaitable[None]]) -> None:
        while _clock() < self.stop_at:
            await asyncio.sleep(0.2)
            try:
                await connect()
            except OSError:
                continue
            self.tally.reconnects += 1
            self.next()
            return
        self.reconnect = None
        self.closed()

    def start(self, delay: float = 0.0) -> None:
        self.loop.call_later(delay, self.next)

    def next(self, now: float | None = None) -> None:
        """Send the next frame (or retransmit the unanswered one); `now` saves a clock read when the caller has one."""
        if self.finished:
            return
        if now is None:
            now = _clock()
        if now >= self.stop_at:
            self._finish()
            return
        frame = self.outstanding or self.panel.next_frame()  # an unanswered frame is retransmitted
        self.outstanding = frame
        self.sent_at = now
        self.deadline = now + self.answer_timeout
        self.tally.sent += 1
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.answer_timeout, self._watch)
        self.send(frame)

    def answered(self, answer: bytes) -> None:
        now = _clock()
        frame = self.outstanding
        if frame is None:
            return
        tally = self.tally
        # `answer_kind`, short-cut for a plain or encrypted ACK ("ACK" or "*ACK" after the CRC and length).
        kind = "ack" if answer[10:13] == b"ACK" or answer[11:14] == b"ACK" else answer_kind(answer)
        tally.answers[kind] += 1
        tally.latencies.append(now - self.sent_at)
        if tally.keep_frames and kind == "ack":
            tally.acked_frames.append(frame)
        self.outstanding = None
        if self.interval:
            self.loop.call_later(max(0.0, self.interval - (now - self.sent_at)), self.next)
        else:
            self.next(now)

    def timed_out(self) -> None:
        self.tally.timeouts += 1
        self.next()

    def _watch(self) -> None:
        """The watchdog fired: time the outstanding frame out if its answer is overdue, else wait for its deadline."""
        self.watchdog = None
        if self.finished or self.outstanding is None:
            return  # re-armed by the next send
        remaining = self.deadline - _clock()
        if remaining > _TIMER_RESOLUTION:
            self.watchdog = self.loop.call_later(remaining, self._watch)
        else:
            self.timed_out()

    def _disarm(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    def _finish(self) -> None:
        self.finished = True
        self._disarm()
        self.on_done()


async def _connect_again(session: PanelSession, host: str, port: int, closers: list[asyncio.BaseTransport]) -> None:
    connection, _ = await asyncio.get_running_loop().create_connection(functools.partial(TcpPanel, session), host, port)
    closers.append(connection)


class TcpPanel(asyncio.Protocol):
    def __init__(self, session: PanelSession) -> None:
        self.session = session
        self.answered = session.answered
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.session.send = self.transport.write  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.closed()

    def data_received(self, data: bytes) -> None:
        if not self.buffer and data.find(b"\r") == len(data) - 1:
            self.answered(data)  # one whole answer, as nearly every read brings: no copy
            return
        buffer, start = self.buffer + data, 0
        while (end := buffer.find(b"\r", start)) >= 0:
            self.answered(buffer[start : end + 1])
            start = end + 1
        self.buffer = buffer[start:]


class UdpPanel(asyncio.DatagramProtocol):
    def __init__(self, session: PanelSession) -> None:
        self.session = session
        self.answered = session.answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.session.send = transport.sendto  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.answered(data)


async def run_panels(
    panels: list[VirtualPanel],
    host: str,
    port: int,
    *,
    transport: str,
    duration: float,
    rate: float = 0.0,
    answer_timeout: float = 5.0,
    keep_frames: bool = False,
    reconnect: bool = False,
    tally: Tally | None = None,
) -> Tally:
    """Drive every panel for `duration` seconds; `rate` is the total messages/s (0: each as fast as answered)."""
    loop = asyncio.get_running_loop()
    tally = tally if tally is not None else Tally(keep_frames=keep_frames)
    interval = len(panels) / rate if rate > 0 else 0.0
    remaining = len(panels)
    finished = loop.create_future()

    def panel_done() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not finished.done():
            finished.set_result(None)

    stop_at = time.perf_counter() + duration
    closers: list[asyncio.BaseTransport] = []
    sessions = []
    for index, panel in enumerate(panels):
        session = PanelSession(
            panel, tally, interval=interval, stop_at=stop_at, answer_timeout=answer_timeout, on_done=panel_done
        )
        connection: asyncio.BaseTransport
        if transport == "tcp":
            connection, _ = await loop.create_connection(functools.partial(TcpPanel, session), host, port)
            if reconnect:
                session.reconnect = functools.partial(_connect_again, session, host, port, closers)
        else:
            connection, _ = await loop.create_datagram_endpoint(
                functools.partial(UdpPanel, session), remote_addr=(host, port)
            )
        closers.append(connection)
        sessions.append((session, (index / len(panels)) * interval))
    stop_at = time.perf_counter() + duration
    for session, delay in sessions:
        session.stop_at = stop_at
        session.start(delay)
    try:
        await asyncio.wait_for(finished, duration + answer_timeout + 5)
    finally:
        for connection in closers:
            connection.close()
    return tally

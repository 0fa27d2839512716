"""A TCP session: one connection (again after the receiver closes it), inputs and answers in order."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from contextlib import suppress

from bench.fuzz.inputs import FrameFactory
from bench.fuzz.panels import CANARY_PANELS, FUZZ_PANELS
from bench.fuzz.session import FuzzRun
from receiver.dc09 import FrameSplitter, Rejection

# The receiver's timers run on uvloop's clock, cached per loop iteration and in whole milliseconds: a cut "after
# frame_timeout" comes up to a few milliseconds early by the fuzzer's clock (0.9995 s for 1 s, measured).
TIMER_SLACK = 0.02


class TcpSession:
    """One TCP connection (again after the receiver closes it): inputs and answers in order, each answer checked."""

    def __init__(self, run: FuzzRun, number: int) -> None:
        self.run = run
        self.number = number
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/tcp/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.mirror = FrameSplitter(run.plan.max_frame_length)  # cuts the stream as the receiver does
        self.answer_frames = FrameSplitter(run.plan.max_frame_length)  # answers may hold a CR in a binary CRC
        self.waiting: deque[bytes] = deque()
        self.partial_since: float | None = None  # since when the receiver holds a frame begun and not ended

    async def send(self, count: int) -> None:
        plan, tally = self.run.plan, self.run.tally
        await self._connect()
        try:
            for _ in range(count):
                self.sent += 1
                if self.sent % plan.canary_every == 0:
                    await self._exchange(self._canary(), canary=True)
                if plan.stall_every and self.sent % plan.stall_every == 0:
                    await self._stall()
                unit = self.factory.stream_unit(self.factory.rng.choice(FUZZ_PANELS))
                tally.frames["tcp"] += 1
                tally.mutations[unit.mutation] += 1
                await self._exchange(unit.data)
            await self._exchange(self._canary(), canary=True)  # a stray answer would come before its ACK
        finally:
            await self._disconnect()

    def _canary(self) -> bytes:
        self.canaries += 1
        self.run.tally.canaries["tcp"] += 1
        panel = CANARY_PANELS[self.canaries % len(CANARY_PANELS)]
        return self.factory.canary(panel, f"{self.number:X}", self.canaries)

    async def _exchange(self, data: bytes, *, canary: bool = False) -> None:
        tally = self.run.tally
        items = self._feed(data)
        expected = [self.run.oracle.frame(item) for item in items]
        tally.expect("tcp", expected)
        if canary and (not items or items[-1] != data):
            tally.problem("canary not framed", "tcp", f"split as {items!r:.200}", data)
        assert self.writer is not None
        self.writer.write(data)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = False
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = tally.answered("tcp", await self._answer(), wanted.pop(0), data)
        except TimeoutError:
            tally.problem("timeout", "tcp", f"{len(wanted)} answers missing", data)
            await self._reconnect()
        except ConnectionError as error:
            self._closed(data, len(wanted), str(error))
            await self._reconnect()
        else:
            if canary and right:
                tally.acked_canaries.append(data)

    def _feed(self, data: bytes) -> list[bytes | Rejection]:
        """The items the receiver cuts ``data`` into, noting since when it holds a frame begun and not ended."""
        items = self.mirror.feed(data)
        if not self.mirror.buffered:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.monotonic()
        return items

    def _closed(self, data: bytes, missing: int, why: str) -> None:
        """The receiver closed the connection: documented only once a begun frame has waited frame_timeout.

        (Then the answers it had not written yet are dropped with the connection, and the panel retransmits.)
        """
        tally, since = self.run.tally, self.partial_since
        if since is not None and time.monotonic() - since >= self.run.plan.frame_timeout - TIMER_SLACK:
            tally.closes["frame_timeout"] += 1
            tally.cut_answers += missing
        else:
            tally.closes["unexpected"] += 1
            waited = "no frame begun" if since is None else f"a frame begun {time.monotonic() - since:.3f} s before"
            tally.problem("unexpected close", "tcp", f"{why}; {missing} answers missing; {waited}", data)

    async def _answer(self) -> bytes:
        assert self.reader is not None
        while not self.waiting:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionResetError("the receiver closed the connection")
            for item in self.answer_frames.feed(data):
                self.waiting.append(item if isinstance(item, bytes) else item.raw)
        return self.waiting.popleft()

    async def _stall(self) -> None:
        """Half a frame, then nothing: the receiver must cut the connection after frame_timeout, unanswered."""
        await self._exchange(self._canary(), canary=True)  # nothing is left waiting in the receiver's splitter
        partial = self.factory.canary(CANARY_PANELS[0], f"{self.number:X}", 0)[:24]  # never completed
        items = self._feed(partial)
        assert self.writer is not None and self.reader is not None and not items
        self.writer.write(partial)
        tally = self.run.tally
        tally.stalls += 1
        try:
            async with asyncio.timeout(self.run.plan.frame_timeout + 5):
                data = await self.reader.read(65536)
        except TimeoutError:
            tally.problem("half a frame not cut", "tcp", "connection still open", partial)
        except ConnectionError as error:
            self._closed(partial, 0, str(error))
        else:
            if data:
                tally.problem("half a frame answered", "tcp", repr(data[:80]), partial)
            else:
                self._closed(partial, 0, "closed")
        await self._reconnect()

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.run.port)
        self.mirror = FrameSplitter(self.run.plan.max_frame_length)
        self.answer_frames = FrameSplitter(self.run.plan.max_frame_length)
        self.waiting.clear()
        self.partial_since = None

    async def _disconnect(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def _reconnect(self) -> None:
        await self._disconnect()
        await self._connect()
        self.run.tally.reconnects += 1

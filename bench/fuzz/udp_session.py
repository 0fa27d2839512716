"""A UDP session: one socket, a datagram, then its answers in any order."""

from __future__ import annotations

import asyncio
import random

from bench.fuzz.inputs import FrameFactory, Unit
from bench.fuzz.oracle import Expected, read_answer
from bench.fuzz.panels import CANARY_PANELS, FUZZ_PANELS
from bench.fuzz.session import FuzzRun
from receiver.dc09 import split_datagram


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        pass


class UdpSession:
    """One UDP socket: a datagram, then its answers (any order: NAKs leave at once, ACKs after the commit)."""

    def __init__(self, run: FuzzRun, number: int) -> None:
        self.run = run
        self.number = number
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/udp/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox = _Inbox()

    async def send(self, count: int) -> None:
        await self._open()
        try:
            for _ in range(count):
                self.sent += 1
                if self.sent % self.run.plan.canary_every == 0:
                    await self._exchange(self._canary(), canary=True)
                unit = self.factory.stream_unit(self.factory.rng.choice(FUZZ_PANELS))
                self.run.tally.frames["udp"] += 1
                self.run.tally.mutations[unit.mutation] += 1
                await self._exchange(unit)
            await self._exchange(self._canary(), canary=True)
        finally:
            if self.transport is not None:
                self.transport.close()

    def _canary(self) -> Unit:
        self.canaries += 1
        self.run.tally.canaries["udp"] += 1
        panel = CANARY_PANELS[self.canaries % len(CANARY_PANELS)]
        return Unit(self.factory.canary(panel, f"{0x100 + self.number:X}", self.canaries), "canary", ("ack",))

    async def _exchange(self, unit: Unit, *, canary: bool = False) -> None:
        tally = self.run.tally
        expected = [self.run.oracle.frame(item) for item in split_datagram(unit.data, self.run.plan.max_frame_length)]
        self.run.check_intent("udp", unit, expected)
        tally.expect("udp", expected)
        assert self.transport is not None
        self.transport.sendto(unit.data)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = True
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = self._match(await self.inbox.queue.get(), wanted, unit.data) and right
        except TimeoutError:
            tally.problem("timeout", "udp", f"{len(wanted)} answers missing", unit.data)
            await self._open()  # a fresh port: a late answer must not be taken for the next datagram's
            return
        if canary and right:
            tally.acked_canaries.append(unit.data)

    def _match(self, raw: bytes, wanted: list[Expected], data: bytes) -> bool:
        """Take the expected answer that ``raw`` is (same kind and sequence) off ``wanted``; whether one was."""
        read = read_answer(raw)
        for index, entry in enumerate(wanted):
            if read is not None and entry.kind == read[0] and entry.sequence in (None, read[1]):
                del wanted[index]
                return self.run.tally.answered("udp", raw, entry, data)
        self.run.tally.answers["udp", read[0] if read is not None else "unreadable"] += 1
        self.run.tally.problem("wrong answer", "udp", f"unexpected {raw[:80]!r}", data)
        return False

    async def _open(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.inbox = _Inbox()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.inbox, remote_addr=("127.0.0.1", self.run.port))
        self.transport = transport

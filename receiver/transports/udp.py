"""DC-09 over UDP: one frame per datagram, answered to the sender after the commit."""

from __future__ import annotations

import asyncio
import functools
from typing import cast

from receiver.dc09 import split_datagram
from receiver.ingest import Ingestor, PendingAnswer


class DC09Datagrams(asyncio.DatagramProtocol):
    def __init__(self, ingestor: Ingestor, max_frame_length: int) -> None:
        self._ingestor = ingestor
        self._max_frame_length = max_frame_length
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        for item in split_datagram(data, self._max_frame_length):
            result = self._ingestor.receive(item, "udp", peer)
            if isinstance(result, PendingAnswer):
                result.when_settled(functools.partial(self._send_after_commit, result, addr))
            else:
                self._send(result, addr)

    def _send_after_commit(self, pending: PendingAnswer, addr: tuple[str | object, ...]) -> None:
        self._send(pending.answer(), addr)

    def _send(self, answer: bytes | None, addr: tuple[str | object, ...]) -> None:
        if answer is not None and self._transport is not None:
            self._transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable from a vanished panel: ignore
        pass


async def start_udp_endpoint(
    ingestor: Ingestor, host: str, port: int, max_frame_length: int
) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: DC09Datagrams(ingestor, max_frame_length), local_addr=(host, port), reuse_port=True
    )
    return transport

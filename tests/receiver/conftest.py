"""Receiver fixtures: a running receiver on free ports over this test's database, and a panel-side client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest_asyncio

from receiver.dc09 import Answer, Rejection, parse_answer
from receiver.service import RunningReceiver, receiver_service
from shared.config import Config, load_config
from shared.enrolment import create_customer
from tests.conftest import free_port

PLAIN_ACCOUNT = "1234"
AES_ACCOUNT = "5678"
AES_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def receiver_config(**overrides: str) -> Config:
    environ = {"ALARMHUB_RECEIVER_DC09_PORT": str(free_port()), **overrides}
    return load_config(None, environ=environ)


@pytest_asyncio.fixture
async def enrolled(db: asyncpg.Pool) -> dict[str, int]:
    """Two customers: account 1234 plain, account 5678 with an AES-128 key."""
    async with db.acquire() as connection:
        plain = await create_customer(
            connection, name="Plain Panel", email="plain@example.com", password=None, account=PLAIN_ACCOUNT
        )
        keyed = await create_customer(
            connection,
            name="Keyed Panel",
            email="keyed@example.com",
            password=None,
            account=AES_ACCOUNT,
            dc09_key=AES_KEY.hex(),
            dc09_key_format="hex",
        )
    return {PLAIN_ACCOUNT: plain.panel_id, AES_ACCOUNT: keyed.panel_id}


@pytest_asyncio.fixture
async def receiver(database_url: str, enrolled: dict[str, int]) -> AsyncIterator[RunningReceiver]:
    async with receiver_service(receiver_config(), database_url) as running:
        yield running


class Panel:
    """A panel's side of a TCP connection: send frames, read answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> Panel:
        reader, writer = await asyncio.open_connection(*address)
        return cls(reader, writer)

    async def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def answer(self, key: bytes | None = None, timeout: float = 5.0) -> Answer:
        async with asyncio.timeout(timeout):
            raw = await self.reader.readuntil(b"\r")
        answer = parse_answer(raw, key)
        assert not isinstance(answer, Rejection), answer
        return answer

    async def exchange(self, frame: bytes, key: bytes | None = None) -> Answer:
        await self.send(frame)
        return await self.answer(key)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest_asyncio.fixture
async def panel(receiver: RunningReceiver) -> AsyncIterator[Panel]:
    client = await Panel.connect(receiver.tcp_address)
    yield client
    await client.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def stored_frames(database_url: str) -> dict[bytes, int]:
    """Every raw frame in signals and how many rows it has (one event per simulated frame: one row)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT raw_frame, count(*) AS copies FROM signals GROUP BY raw_frame")
    finally:
        await connection.close()
    return {bytes(row["raw_frame"]): row["copies"] for row in rows}

"""What the receiver commits reaches a follower: its NOTIFY decodes as SignalsCommitted and every row comes once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import asyncpg

from receiver.dc09 import cid_data, encode_frame
from shared.events import SIGNALS, Listener, SignalsCommitted
from shared.signal_cursor import SignalCursor, SignalFollower
from tests.receiver.conftest import PLAIN_ACCOUNT, Panel, now


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - filled by the listeners' tasks
            await asyncio.sleep(0.02)


async def test_signals_the_receiver_commits_reach_a_follower_once_each(
    database_url: str, panel: Panel, db: asyncpg.Pool
) -> None:
    delivered: list[int] = []
    notices: list[SignalsCommitted] = []

    async def deliver(rows: Sequence[asyncpg.Record], _cursor: SignalCursor) -> None:
        delivered.extend(row["id"] for row in rows)

    async def heard(_connection: asyncpg.Connection, event: SignalsCommitted) -> None:
        notices.append(event)

    follower_listener = Listener(database_url, name="test-follower")
    SignalFollower(follower_listener, deliver, SignalCursor.beginning())
    notice_listener = Listener(database_url, name="test-notices")
    notice_listener.on(SIGNALS, heard)
    tasks = [asyncio.create_task(follower_listener.run()), asyncio.create_task(notice_listener.run())]
    try:
        await asyncio.wait_for(notice_listener.connected.wait(), 10)
        frames = [
            encode_frame(
                "ADM-CID", seq, PLAIN_ACCOUNT, cid_data(PLAIN_ACCOUNT, 1, 130, 1, seq), line="1", timestamp=now()
            )
            for seq in range(1, 6)
        ]
        await panel.send(*frames)
        assert [(await panel.answer()).kind for _ in frames] == ["ack"] * 5
        stored = [row["id"] for row in await db.fetch("SELECT id FROM signals ORDER BY id")]
        assert len(stored) == 5
        await eventually(lambda: sorted(delivered) == stored)
        await eventually(lambda: sum(notice.count for notice in notices) == 5)
        assert {notice.first_id for notice in notices} <= set(stored)
        assert len(delivered) == 5
    finally:
        for listener in (follower_listener, notice_listener):
            listener.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

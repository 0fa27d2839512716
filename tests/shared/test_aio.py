"""wait_or_timeout: a timeout gives None, a result is returned, and a cancellation is never swallowed."""

from __future__ import annotations

import asyncio

from shared.aio import wait_or_timeout


async def test_result_or_none() -> None:
    assert await wait_or_timeout(asyncio.sleep(0, result="done"), 1) == "done"
    assert await wait_or_timeout(asyncio.Event().wait(), 0.01) is None

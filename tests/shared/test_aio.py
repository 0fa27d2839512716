"""wait_or_timeout: a timeout gives None, a result is returned, and a cancellation is never swallowed."""

from __future__ import annotations

import asyncio

from shared.aio import wait_or_timeout


async def test_result_or_none() -> None:
    assert await wait_or_timeout(asyncio.sleep(0, result="done"), 1) == "done"
    assert await wait_or_timeout(asyncio.Event().wait(), 0.01) is None


async def test_a_cancellation_that_wait_for_swallowed_is_honoured_at_the_next_wait() -> None:
    """On 3.11 `asyncio.wait_for` returns the result when the cancel lands as its future completes (aiosmtplib
    awaits every SMTP reply that way): the task must still stop at its next wait, not sleep its whole timeout."""
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waited: list[str] = []

    async def sender() -> None:
        waited.append(await asyncio.wait_for(reply, 10))
        await wait_or_timeout(asyncio.Event().wait(), 600)

    task = asyncio.create_task(sender())
    await asyncio.sleep(0.01)  # the task waits for the reply
    reply.set_result("250 OK")
    task.cancel()  # in the same turn of the loop: the race the outbox sender lost
    done, _ = await asyncio.wait([task], timeout=5)
    assert done == {task} and task.cancelled()

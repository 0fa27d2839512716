"""Small asyncio helpers that the standard library gets subtly wrong on Python 3.11."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_or_timeout(awaitable: Awaitable[T], seconds: float) -> T | None:
    """`awaitable`'s result, or None once `seconds` have passed — without ever swallowing a cancellation.

    On 3.11, when `task.cancel()` lands while an `asyncio.timeout()` is expiring, the context manager can turn the
    cancellation into TimeoutError; a loop that treats TimeoutError as "nothing happened" then waits again and the
    task never stops (a worker that hung its shutdown this way). Here a pending cancellation always wins, also
    one a library swallowed before the wait began (see `checkpoint`).
    """
    if (task := asyncio.current_task()) is not None and task.cancelling():
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: closed, not left to warn that it was never awaited
        raise asyncio.CancelledError
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None
        return None


def checkpoint() -> None:
    """Raise CancelledError if the current task was asked to stop and the request was swallowed on the way.

    3.11's `asyncio.wait_for` returns the inner result when a cancellation lands just as the inner awaitable
    completes, leaving `task.cancelling()` set but nothing raised (fixed in 3.12). aiosmtplib awaits every SMTP reply
    through it, so an outbox sender stopped as a server answered delivered on and then waited out its poll interval
    (ten minutes) before it noticed. Long-running loops call this between units of work.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def sleep(seconds: float) -> None:
    """`asyncio.sleep` for long-running loops: a stop that a library swallowed on the way here ends the loop now
    rather than after the sleep and another round of work (see `checkpoint`)."""
    checkpoint()
    await asyncio.sleep(seconds)

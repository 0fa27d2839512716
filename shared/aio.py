"""Small asyncio helpers that the standard library gets subtly wrong on Python 3.11."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_or_timeout(awaitable: Awaitable[T], seconds: float) -> T | None:
    """`awaitable`'s result, or None once `seconds` have passed — without ever swallowing a cancellation.

    On 3.11, when `task.cancel()` lands while an `asyncio.timeout()` is expiring, the context manager can turn the
    cancellation into TimeoutError; a loop that treats TimeoutError as "nothing happened" then waits again and the
    task never stops (a worker that hung its shutdown this way). Here a pending cancellation always wins.
    """
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None
        return None

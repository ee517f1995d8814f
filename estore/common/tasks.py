"""Stopping background tasks reliably, and awaiting several calls' outcomes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
# How long to wait for a cancelled task before cancelling it again.
RECANCEL_SECONDS = 0.1


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it to end; re-raise what it failed with, if not cancelled."""
    # Python 3.11's asyncio.wait_for, which redis-py uses to send every command, loses a
    # cancellation that lands just as the command is sent (fixed in 3.12): the task then
    # carries on. Cancelling until it has ended makes stopping it certain.
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def settled(*awaitables: Awaitable[T]) -> list[T | BaseException]:
    """What each awaitable gave or the exception it raised, in order, as
    `asyncio.gather(..., return_exceptions=True)`; a lone one is awaited as it is, without the
    task gather would wrap it in (the hot paths' usual case: a one-line order, a batch with no
    entry on its own)."""
    if len(awaitables) == 1:
        try:
            return [await awaitables[0]]
        except Exception as error:
            return [error]
    return await asyncio.gather(*awaitables, return_exceptions=True)

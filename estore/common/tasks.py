"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

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

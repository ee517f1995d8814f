"""The reservation sweeper: a background task that expires due reservations.

Every instance runs one, over the buckets it leases (a slice of them each pass, so that each is
looked at about once a second) and the buckets where its own holds are due; the expiry script
re-checks each reservation's state, so sweepers running at once never give the same stock back
twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from estore.common.tasks import stop_task
from estore.inventory.store_expiry import SWEEP_BATCH

log = logging.getLogger("estore.inventory.task_sweeper")


class LeasedSlices:
    """The leased buckets in slices: each call the next slice, a full turn about every second."""

    def __init__(self, buckets: Callable[[], Awaitable[list[int]]], interval: float) -> None:
        self._buckets = buckets
        self._slices = max(1, round(1.0 / interval))
        self._next = 0

    async def __call__(self) -> list[int]:
        held = await self._buckets()
        self._next = (self._next + 1) % self._slices
        return held[self._next :: self._slices]


class ReservationSweeper:
    """Calls `sweep` every `interval` seconds (at once again while it finds full batches)."""

    def __init__(self, sweep: Callable[[], Awaitable[int]], *, interval: float = 1.0) -> None:
        self._sweep = sweep
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="reservation-sweeper")

    async def stop(self) -> None:
        """Stop sweeping and wait for the task to end."""
        if self._task is None:
            return
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                expired = await self._sweep()
            except Exception:  # Redis down, most likely: try again next round
                log.warning("reservation sweep failed", exc_info=True)
                expired = 0
            if expired:
                log.info("expired reservations", extra={"count": expired})
            if expired < SWEEP_BATCH:
                await asyncio.sleep(self._interval)

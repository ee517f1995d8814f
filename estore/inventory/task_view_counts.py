"""GetProduct's views, counted in the process and added to Redis in batches.

A read stays a read (a replica could serve it): views reach the analytics within about a
second (FLUSH_INTERVAL_SECONDS), at once before this instance answers GetProductAnalytics,
and at a clean shutdown. A crash loses at most the last second's views.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from estore.common.tasks import stop_task

log = logging.getLogger("estore.inventory.task_view_counts")

FLUSH_INTERVAL_SECONDS = 1.0
Views = dict[str, tuple[int, int]]  # product id -> (views, last viewed at, epoch ms)
AddViews = Callable[[Mapping[str, tuple[int, int]]], Awaitable[None]]


class ViewCounts:
    """Views not yet in Redis, and the task that adds them every FLUSH_INTERVAL_SECONDS."""

    def __init__(self, add_views: AddViews, *, interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        self._add_views = add_views
        self._interval = interval
        self._pending: Views = {}
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def count(self, product_id: str, now: int) -> None:
        """One view of `product_id` at `now` (no I/O)."""
        views, last = self._pending.get(product_id, (0, now))
        self._pending[product_id] = (views + 1, max(last, now))

    async def flush(self) -> None:
        """Add every view counted so far to Redis (kept for the next flush if that fails)."""
        async with self._flushing:  # a flush in progress lands before this one reads on
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                await self._add_views(batch)
            except BaseException:
                self._merge_back(batch)
                raise

    def _merge_back(self, batch: Views) -> None:
        for product_id, (views, last) in batch.items():
            more, later = self._pending.get(product_id, (0, last))
            self._pending[product_id] = (views + more, max(last, later))

    def start(self) -> None:
        """Flush in the background every interval."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="view-counts")

    async def stop(self) -> None:
        """Stop the background flushes, then flush what is left (a clean shutdown loses none)."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.warning("views not saved at shutdown", extra={"products": len(self._pending)})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                # Shielded: stopping never cuts a batch off midway (it could land and be
                # retried); stop() waits for it and flushes the rest.
                await asyncio.shield(self.flush())
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down, most likely: the views wait for the next round
                log.warning("saving views failed", exc_info=True)

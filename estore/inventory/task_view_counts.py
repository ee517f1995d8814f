"""GetProduct's views, counted in the process and added to Redis in batches.

A read stays a read (a replica could serve it): views reach the analytics within about a
second (FLUSH_INTERVAL_SECONDS), at once before this instance answers GetProductAnalytics,
and at a clean shutdown. A crash loses at most the last second's views.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping

from estore.common.tasks import stop_task

log = logging.getLogger("estore.inventory.task_view_counts")

FLUSH_INTERVAL_SECONDS = 1.0
BATCH_PRODUCTS = 500  # products per batch: one script call, so Redis is never held for long
Views = dict[str, tuple[int, int]]  # product id -> (views, last viewed at, epoch ms)
AddViews = Callable[[str, Mapping[str, tuple[int, int]]], Awaitable[None]]  # batch id, views


class ViewCounts:
    """Views not yet in Redis, and the task that adds them every FLUSH_INTERVAL_SECONDS."""

    def __init__(self, add_views: AddViews, *, interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        self._add_views = add_views
        self._interval = interval
        self._pending: Views = {}
        # Batches whose sending failed, with their ids: sent again exactly as they were, so that
        # one Redis ran before the failure is recognised and not counted twice.
        self._unsent: list[tuple[str, Views]] = []
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def count(self, product_id: str, now: int) -> None:
        """One view of `product_id` at `now` (no I/O)."""
        views, last = self._pending.get(product_id, (0, now))
        self._pending[product_id] = (views + 1, max(last, now))

    @property
    def waiting(self) -> int:
        """Products whose views are not in Redis yet."""
        return len(self._pending) + sum(len(views) for _, views in self._unsent)

    async def flush(self) -> None:
        """Add every view counted so far to Redis (kept for the next flush if that fails)."""
        async with self._flushing:  # a flush in progress lands before this one reads on
            batch, self._pending = self._pending, {}
            items = iter(batch.items())
            fresh = iter(lambda: dict(itertools.islice(items, BATCH_PRODUCTS)), {})
            batches = [*self._unsent, *((uuid.uuid4().hex, views) for views in fresh)]
            self._unsent = []
            for sent, (batch_id, views) in enumerate(batches):
                try:
                    await self._add_views(batch_id, views)
                except BaseException:
                    self._unsent = batches[sent:]
                    raise

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
            log.warning("views not saved at shutdown", extra={"products": self.waiting})

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

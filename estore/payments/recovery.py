"""The sweeper that finishes or undoes half-done orders and cancels unpaid ones that expired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from estore.payments.codec import to_ms
from estore.payments.saga import OrderSaga
from estore.payments.store import PaymentStore

log = logging.getLogger("estore.payments.recovery")
BATCH = 100


class Recovery:
    """Runs at start and then every `interval` seconds; safe with several instances at once."""

    def __init__(
        self,
        store: PaymentStore,
        saga: OrderSaga,
        interval: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._saga = saga
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One pass: orders whose processing lease lapsed, then unpaid orders past expiry."""
        handled = 0
        now = to_ms(self._clock())
        for order_id in await self._store.due_order_ids("processing", now, BATCH):
            order = await self._store.get_order(order_id)
            if order is not None:
                await self._saga.resume(order)
                handled += 1
        for order_id in await self._store.due_order_ids("expiring", now, BATCH):
            order = await self._store.get_order(order_id)
            if order is not None:
                await self._saga.expire(order)
                handled += 1
        return handled

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.warning("recovery pass failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="payments-recovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

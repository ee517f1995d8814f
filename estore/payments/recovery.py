"""The sweeper that finishes or undoes half-done orders and cancels unpaid ones that expired."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from estore.common.tasks import stop_task
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
        now = to_ms(self._clock())
        handled = 0
        for which, settle in (("processing", self._saga.resume), ("expiring", self._saga.expire)):
            for order_id in await self._store.due_order_ids(which, now, BATCH):
                try:  # one order that cannot be settled now must not hold up the others
                    order = await self._store.get_order(order_id)
                    if order is not None:
                        await settle(order)
                        handled += 1
                except Exception:
                    log.warning("could not settle order %s yet", order_id, exc_info=True)
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
            await stop_task(self._task)

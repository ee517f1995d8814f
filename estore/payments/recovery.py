"""The sweeper that finishes or undoes half-done orders and refunds, releases the lines of
baskets whose call died before writing the order, and cancels unpaid orders that expired.

Each instance sweeps the buckets it holds the lease of (sweep_leases.py): N instances sweep
about N times as fast, and a dead instance's buckets are taken over within one lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from estore.common.tasks import stop_task
from estore.payments.codec import to_ms
from estore.payments.refund_saga import RefundSaga
from estore.payments.saga import OrderSaga
from estore.payments.store import PaymentStore
from estore.payments.sweep_leases import BucketLeases

log = logging.getLogger("estore.payments.recovery")
BATCH = 100
MAX_BATCHES = 10  # per bucket, index and pass: the rest waits for the next pass
CHUNK = 128  # buckets read per pipeline


class Recovery:
    """Runs at start and then every `interval` seconds; safe with several instances at once.

    Each due entry is first taken for this pass (its deadline moved on by `retry_seconds`), so
    an entry that cannot be settled now is tried again later without holding up the others,
    and two instances never settle one entry at once.
    """

    def __init__(
        self,
        store: PaymentStore,
        saga: OrderSaga,
        refunds: RefundSaga,
        interval: float,
        leases: BucketLeases,
        *,
        retry_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._leases = leases
        self._settle: dict[str, Callable[[str], Awaitable[bool]]] = {
            "creating": saga.baskets.abandon,  # baskets whose reserving call stopped renewing
            "processing": self._resume,  # orders whose charging call stopped renewing its lease
            "expiring": self._expire,  # unpaid orders past their hold
            "refunds": refunds.recover,  # refunds whose call stopped renewing its lease
        }
        self._saga = saga
        self._interval = interval
        self._retry_ms = int(retry_seconds * 1000)
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, spread_over: float = 0.0) -> int:
        """One pass over every index of the buckets this instance holds; how many entries it
        settled (or tried to). Its reads of the buckets are spread over `spread_over` seconds,
        so that a pass over a thousand buckets is no burst on a core it shares."""
        pending, handled = await self._leases.buckets(), 0
        await self._store.load_due_script()
        for _ in range(MAX_BATCHES):
            full: set[int] = set()
            starts = range(0, len(pending), CHUNK)
            pause = spread_over / len(starts) if starts else 0.0
            for start in starts:
                if start and pause:
                    await asyncio.sleep(pause)
                settled, more = await self._batch(pending[start : start + CHUNK])
                handled += settled
                full |= more
            pending, spread_over = sorted(full), 0.0  # busy buckets are read again at once
            if not pending:
                break
        return handled

    async def _batch(self, buckets: list[int]) -> tuple[int, set[int]]:
        """Settle up to BATCH due entries of each index of each bucket, index by index; and the
        buckets that may have more."""
        now = to_ms(self._clock())
        found = await self._store.due_in(buckets, now, BATCH)
        handled, full = 0, set()
        for which, settle in self._settle.items():
            for bucket, due in found.items():
                for member in due[which]:
                    handled += await self._settle_one(which, member, now, settle)
                if len(due[which]) == BATCH:
                    full.add(bucket)
        return handled, full

    async def _settle_one(
        self, which: str, member: str, now: int, settle: Callable[[str], Awaitable[bool]]
    ) -> int:
        if not await self._store.claim_due(which, member, now, now + self._retry_ms):
            return 0
        try:  # one entry that cannot be settled now must not hold up the others
            return int(await settle(member))
        except Exception:
            log.warning("could not settle %s %s yet", which, member, exc_info=True)
            return 0

    async def _resume(self, order_id: str) -> bool:
        order = await self._store.get_order(order_id)
        if order is None:  # gone (deleted by hand, or a partial restore): nothing to settle
            await self._store.forget_due("processing", order_id)
            return False
        await self._saga.settlement.resume(order)
        return True

    async def _expire(self, order_id: str) -> bool:
        order = await self._store.get_order(order_id)
        if order is None:
            await self._store.forget_due("expiring", order_id)
            return False
        await self._saga.settlement.expire(order)
        return True

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once(spread_over=self._interval / 2)
            except Exception:
                log.warning("recovery pass failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="payments-recovery")

    async def stop(self) -> None:
        """Stop sweeping; the leases are given back by their owner (see app.py)."""
        if self._task is not None:
            await stop_task(self._task)

"""Payments wired to a real Redis, the simulated processor, and a rules-only fake Inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from estore.common.auth import Caller
from estore.common.idempotency import Idempotency
from estore.common.paging import PageTokens
from estore.payments.errors import (
    InsufficientStock,
    InventoryUnavailable,
    ProductNotFound,
    ReservationLost,
)
from estore.payments.inventory_client import Reservation
from estore.payments.processor import SimulatedProcessor
from estore.payments.recovery import Recovery
from estore.payments.refund_saga import RefundSaga
from estore.payments.rules import PaymentsConfig
from estore.payments.saga import OrderSaga
from estore.payments.service import PaymentService
from estore.payments.store import P, PaymentStore
from estore.payments.store_refunds import RefundStore

BUYER = Caller(user_id=1, is_verified=True)
OTHER = Caller(user_id=2, is_verified=True)
ADMIN = Caller(user_id=99, is_admin=True, is_verified=True)


class FakeInventory:
    """Inventory's reservation rules in memory, for testing the saga's side of them."""

    def __init__(self, stock: dict[str, int], unit_price: int) -> None:
        self.available = dict(stock)
        self.unit_price = unit_price
        self.reservations: dict[str, Reservation] = {}
        self.down = False
        self.restocks: dict[str, int] = {}

    def _check(self) -> None:
        if self.down:
            raise InventoryUnavailable("down")

    async def reserve(
        self, product_id: str, quantity: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation:
        self._check()
        if reservation_id in self.reservations:
            return self.reservations[reservation_id]
        if product_id not in self.available:
            raise ProductNotFound("no such product")
        if self.available[product_id] < quantity:
            raise InsufficientStock("not enough")
        self.available[product_id] -= quantity
        held = Reservation(
            reservation_id, product_id, quantity, self.unit_price, "USD",
            datetime.now(UTC) + timedelta(seconds=ttl_seconds), "HELD",
        )  # fmt: skip
        self.reservations[reservation_id] = held
        return held

    async def commit(self, reservation_id: str) -> Reservation:
        self._check()
        held = self.reservations[reservation_id]
        if held.state in ("RELEASED", "EXPIRED"):
            raise ReservationLost("gone", reason=f"RESERVATION_{held.state}")
        self.reservations[reservation_id] = replace(held, state="COMMITTED")
        return self.reservations[reservation_id]

    async def release(self, reservation_id: str) -> Reservation:
        self._check()
        held = self.reservations[reservation_id]
        if held.state == "COMMITTED":
            raise ReservationLost("sold", reason="RESERVATION_COMMITTED")
        if held.state == "HELD":
            self.available[held.product_id] += held.quantity
            self.reservations[reservation_id] = replace(held, state="RELEASED")
        return self.reservations[reservation_id]

    async def restock(self, product_id: str, quantity: int, request_id: str, reason: str) -> None:
        self._check()
        if request_id not in self.restocks:
            self.restocks[request_id] = quantity
            self.available[product_id] += quantity

    def held(self) -> int:
        return sum(r.quantity for r in self.reservations.values() if r.state == "HELD")


@dataclass
class Payments:
    redis: Redis
    inventory: FakeInventory
    processor: SimulatedProcessor
    store: PaymentStore
    saga: OrderSaga
    refunds: RefundSaga
    service: PaymentService
    config: PaymentsConfig

    def recovery(self, clock: Callable[[], datetime] | None = None) -> Recovery:
        """A recovery pass runner; `clock` stands in for a later moment."""
        return Recovery(
            self.store, self.saga, self.refunds, 1,
            retry_seconds=self.config.lease_seconds, clock=clock or (lambda: datetime.now(UTC)),
        )  # fmt: skip


@pytest.fixture
async def payments(redis_url: str) -> AsyncIterator[Payments]:
    redis = Redis.from_url(redis_url)
    inventory = FakeInventory({"tea": 10}, unit_price=1999)
    processor = SimulatedProcessor(redis)
    store = PaymentStore(redis)
    idempotency = Idempotency(redis, f"{P}:idem", wait_seconds=5)
    config = PaymentsConfig(
        currency="USD", fee_bps=500, reservation_ttl_seconds=900, lease_seconds=30,
        retry_pause_seconds=0.001,
    )  # fmt: skip
    saga = OrderSaga(store, inventory, processor, idempotency, config)
    refunds = RefundSaga(store, RefundStore(redis), inventory, processor, config)
    service = PaymentService(
        store, saga, refunds, inventory, processor, idempotency, PageTokens(b"k" * 32)
    )
    yield Payments(redis, inventory, processor, store, saga, refunds, service, config)
    await redis.aclose()

"""Payments wired to a real Redis, the simulated processor, and a rules-only fake Inventory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from estore.common.auth import Caller
from estore.common.idempotency import Idempotency
from estore.common.paging import PageTokens
from estore.common.redis import RedisClient, connect_redis
from estore.payments.buckets import LEGACY, bucket_of_user
from estore.payments.errors import (
    InsufficientStock,
    InventoryUnavailable,
    ProductNotFound,
    ReservationLost,
)
from estore.payments.inventory_client import Reservation
from estore.payments.keys import due_key, idempotency_prefix
from estore.payments.processor import (
    ChargeResult,
    RefundOutcome,
    RefundResult,
    SimulatedProcessor,
)
from estore.payments.recovery import Recovery
from estore.payments.refund_saga import RefundSaga
from estore.payments.rules import PaymentsConfig
from estore.payments.saga import OrderSaga
from estore.payments.service import PaymentService
from estore.payments.store import PaymentStore
from estore.payments.store_refunds import RefundStore
from estore.payments.sweep_leases import BucketLeases
from tests.helpers import on_both_redis_kinds

BUYER = Caller(user_id=1, is_verified=True)
OTHER = Caller(user_id=2, is_verified=True)
ADMIN = Caller(user_id=99, is_admin=True, is_verified=True)


async def due_count(redis: RedisClient, which: str) -> int:
    """Entries of a lease index (keys.WHICH) of BUYER's bucket and of the legacy slot."""
    buckets = (bucket_of_user(BUYER.user_id or 0), LEGACY)
    return sum([await redis.zcard(due_key(bucket, which)) for bucket in buckets])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_redis_kinds(metafunc)  # the store and its scripts on a single Redis and a cluster


class FakeInventory:
    """Inventory's reservation rules in memory, for testing the saga's side of them."""

    def __init__(
        self, stock: dict[str, int], unit_price: int, prices: dict[str, int] | None = None
    ) -> None:
        self.available = dict(stock)
        self.unit_price = unit_price
        self.prices = dict(prices or {})  # per product; others cost unit_price
        self.reservations: dict[str, Reservation] = {}
        self.down = False
        self.broken: set[str] = set()  # reservations whose commit and release fail
        self.restocks: dict[str, int] = {}

    def _check(self, reservation_id: str = "") -> None:
        if self.down or reservation_id in self.broken:
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
        unit_price = self.prices.get(product_id, self.unit_price)
        held = Reservation(
            reservation_id, product_id, quantity, unit_price, "USD",
            datetime.now(UTC) + timedelta(seconds=ttl_seconds), "HELD",
        )  # fmt: skip
        self.reservations[reservation_id] = held
        return held

    def _held(self, reservation_id: str) -> Reservation:
        if reservation_id not in self.reservations:
            raise ReservationLost("no such reservation", reason="RESERVATION_NOT_FOUND")
        return self.reservations[reservation_id]

    async def commit(self, reservation_id: str, product_id: str = "") -> Reservation:
        self._check(reservation_id)
        held = self._held(reservation_id)
        if held.state in ("RELEASED", "EXPIRED"):
            raise ReservationLost("gone", reason=f"RESERVATION_{held.state}")
        self.reservations[reservation_id] = replace(held, state="COMMITTED")
        return self.reservations[reservation_id]

    async def release(self, reservation_id: str, product_id: str = "") -> Reservation:
        self._check(reservation_id)
        held = self._held(reservation_id)
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


class ScriptedProcessor(SimulatedProcessor):
    """The simulator, whose refund answers a test can script; it counts the refund calls."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(redis)
        self.refund_answers: list[RefundOutcome] = []  # given before the simulator is asked
        self.refund_calls = 0
        self.charge_seconds = 0.0  # how long a charge takes

    async def charge(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        await asyncio.sleep(self.charge_seconds)
        return await super().charge(token, amount_minor, currency, idempotency_key)

    async def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        self.refund_calls += 1
        if self.refund_answers:
            outcome = self.refund_answers.pop(0)
            if outcome is not RefundOutcome.SUCCEEDED:
                return RefundResult(
                    outcome, "CHARGE_DISPUTED" if outcome.value == "refused" else ""
                )
        return await super().refund(charge_id, amount_minor, idempotency_key)


@dataclass
class Payments:
    redis: RedisClient
    inventory: FakeInventory
    processor: ScriptedProcessor
    store: PaymentStore
    saga: OrderSaga
    refunds: RefundSaga
    service: PaymentService
    config: PaymentsConfig
    leases: BucketLeases

    def recovery(
        self, clock: Callable[[], datetime] | None = None, interval: float = 1
    ) -> Recovery:
        """A recovery pass runner; `clock` stands in for a later moment."""
        return Recovery(
            self.store, self.saga, self.refunds, interval, self.leases,
            retry_seconds=self.config.lease_seconds, clock=clock or (lambda: datetime.now(UTC)),
        )  # fmt: skip


def build_payments(redis: RedisClient, *, lease_seconds: int = 30) -> Payments:
    """Payments on `redis` with a fake Inventory holding 10 "tea"."""
    inventory = FakeInventory({"tea": 10}, unit_price=1999)
    processor = ScriptedProcessor(redis)
    store = PaymentStore(redis)
    idempotency = Idempotency(redis, idempotency_prefix, wait_seconds=5)
    config = PaymentsConfig(
        currency="USD", fee_bps=500, reservation_ttl_seconds=900, lease_seconds=lease_seconds,
        retry_pause_seconds=0.001,
    )  # fmt: skip
    saga = OrderSaga(store, inventory, processor, idempotency, config)
    refunds = RefundSaga(store, RefundStore(redis), inventory, processor, config)
    service = PaymentService(
        store, saga, refunds, inventory, processor, idempotency, PageTokens(b"k" * 32)
    )
    leases = BucketLeases(redis, lease_seconds=30)
    return Payments(redis, inventory, processor, store, saga, refunds, service, config, leases)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect_redis(redis_url, "test")
    yield client
    await client.aclose()


# A basket of three lines: 49.99 + 2 x 12.50 + 3 x 19.99, fee 6.75.
BASKET = [("kettle", 1), ("mug", 2), ("tea", 3)]
STOCK = {"kettle": 5, "mug": 10, "tea": 10}


@pytest.fixture
def shop(redis: RedisClient) -> Payments:
    """Payments selling a kettle (49.99), mugs (12.50) and tea (19.99)."""
    p = build_payments(redis)
    p.inventory.available.update(STOCK)
    p.inventory.prices.update({"kettle": 4999, "mug": 1250})
    return p


@pytest.fixture
def payments(redis: RedisClient) -> Payments:
    return build_payments(redis)

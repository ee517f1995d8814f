"""available + reserved + sold == added after any mix of reserve, commit, release, expiry and
AdjustStock (a hypothesis state machine against the real scripts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from estore.common.redis import connect_redis
from estore.inventory.errors import (
    InsufficientStock,
    ReservationCommitted,
    ReservationExpired,
    ReservationReleased,
)
from estore.inventory.models import ReservationState
from tests.integration.inventory.conftest import ADMIN, SERVICE, FakeClock, build_inventory

T = TypeVar("T")
HELD, COMMITTED, RELEASED, EXPIRED = (
    ReservationState.HELD,
    ReservationState.COMMITTED,
    ReservationState.RELEASED,
    ReservationState.EXPIRED,
)


@dataclass
class Hold:
    """What the model expects of one reservation."""

    quantity: int
    expires_at: int
    state: ReservationState


class StockMachine(RuleBasedStateMachine):
    """Drives one product's stock through the store and checks it against a simple model."""

    redis_url = ""
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = connect_redis(self.redis_url, "test")
        self.clock = FakeClock()
        self.inventory = build_inventory(self.redis, self.clock)
        self.run(self.redis.flushall())
        self.product_id = self.run(self.inventory.product(quantity=5)).id
        self.available, self.reserved, self.sold, self.added = 5, 0, 0, 5
        self.holds: dict[str, Hold] = {}

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    def _give_back(self, hold: Hold, state: ReservationState) -> None:
        hold.state = state
        self.available += hold.quantity
        self.reserved -= hold.quantity

    def _due(self, hold: Hold) -> bool:
        return hold.state is HELD and hold.expires_at <= self.clock.now

    @rule(target=reservations, quantity=st.integers(1, 4), ttl_seconds=st.integers(1, 5))
    def reserve(self, quantity: int, ttl_seconds: int) -> str:
        reservation_id = f"r{len(self.holds)}"
        stock = self.inventory.stock
        try:
            self.run(
                stock.reserve_stock(
                    SERVICE, self.product_id, quantity, reservation_id, ttl_seconds * 1000
                )
            )
        except InsufficientStock:
            assert quantity > self.available
            self.holds[reservation_id] = Hold(quantity, 0, RELEASED)  # never held
            return reservation_id
        assert quantity <= self.available
        self.available -= quantity
        self.reserved += quantity
        self.holds[reservation_id] = Hold(quantity, self.clock.now + ttl_seconds * 1000, HELD)
        return reservation_id

    @rule(reservation_id=reservations)
    def reserve_again(self, reservation_id: str) -> None:
        hold = self.holds[reservation_id]
        if hold.expires_at == 0:
            return  # that reservation never existed
        got = self.run(
            self.inventory.stock.reserve_stock(
                SERVICE, self.product_id, hold.quantity, reservation_id
            )
        )
        assert got.state is hold.state or self._due(hold)

    @rule(reservation_id=reservations)
    def commit(self, reservation_id: str) -> None:
        hold = self.holds[reservation_id]
        if hold.expires_at == 0:
            return
        try:
            got = self.run(self.inventory.stock.commit_reservation(SERVICE, reservation_id))
        except ReservationExpired:
            if self._due(hold):
                self._give_back(hold, EXPIRED)
            assert hold.state is EXPIRED
            return
        except ReservationReleased:
            assert hold.state is RELEASED
            return
        assert hold.state in (HELD, COMMITTED)
        assert not self._due(hold)
        if hold.state is HELD:
            hold.state = COMMITTED
            self.reserved -= hold.quantity
            self.sold += hold.quantity
        assert got.state is COMMITTED

    @rule(reservation_id=reservations)
    def release(self, reservation_id: str) -> None:
        hold = self.holds[reservation_id]
        if hold.expires_at == 0:
            return
        try:
            got = self.run(self.inventory.stock.release_reservation(SERVICE, reservation_id))
        except ReservationCommitted:
            assert hold.state is COMMITTED
            return
        if hold.state is HELD:
            self._give_back(hold, EXPIRED if self._due(hold) else RELEASED)
        assert got.state is hold.state

    @rule(seconds=st.integers(0, 4))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds * 1000)

    @rule()
    def sweep(self) -> None:
        due = [h for h in self.holds.values() if self._due(h)]
        assert self.run(self.inventory.stock.expire_due_reservations()) == len(due)
        for hold in due:
            self._give_back(hold, EXPIRED)

    @rule(delta=st.integers(-6, 6).filter(bool))
    def adjust(self, delta: int) -> None:
        try:
            self.run(self.inventory.stock.adjust_stock(ADMIN, self.product_id, delta, "test"))
        except InsufficientStock:
            assert self.available + delta < 0
            return
        self.available += delta
        self.added += delta

    @invariant()
    def stock_adds_up(self) -> None:
        product = self.run(self.inventory.store.products.get(self.product_id))
        assert product is not None
        assert product.quantity + product.reserved + product.sold == product.added
        assert (product.quantity, product.reserved, product.sold, product.added) == (
            self.available,
            self.reserved,
            self.sold,
            self.added,
        )
        assert min(product.quantity, product.reserved, product.sold) >= 0


def test_stock_always_adds_up(redis_url: str) -> None:
    StockMachine.redis_url = redis_url
    run_state_machine_as_test(
        StockMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

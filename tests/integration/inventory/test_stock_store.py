"""Stock scripts against Redis: expiry, concurrent sweeps, exact prices, and lost answers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estore.common.buckets import bucket_of
from estore.common.errors import InvalidArgument
from estore.common.money import apply_discount
from estore.inventory import store_keys
from estore.inventory.errors import ReservationExpired
from estore.inventory.models import ReservationState
from estore.inventory.rules_fields import PRICE_MAX_MINOR
from estore.inventory.store_expiry import COUNT_CHUNK
from estore.inventory.task_sweeper import ReservationSweeper
from tests.integration.inventory.conftest import ADMIN, SERVICE, Inventory

MINUTE = 60_000


async def _counters(inventory: Inventory, product_id: str) -> tuple[int, int, int, int]:
    found = await inventory.store.products.get(product_id)
    assert found is not None
    return found.quantity, found.reserved, found.sold, found.added


async def test_sweep_expires_due_reservations_and_returns_their_stock(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=10)
    stock = inventory.stock
    await stock.reserve_stock(SERVICE, product.id, 3, "short", ttl_ms=MINUTE)
    await stock.reserve_stock(SERVICE, product.id, 2, "long", ttl_ms=10 * MINUTE)
    await stock.reserve_stock(SERVICE, product.id, 1, "done", ttl_ms=MINUTE)
    await stock.commit_reservation(SERVICE, "done")
    assert await stock.expire_due_reservations() == 0
    inventory.clock.advance(MINUTE)
    assert await stock.expire_due_reservations() == 1
    assert await _counters(inventory, product.id) == (7, 2, 1, 10)
    expired = await inventory.store.stock.get_reservation("short")
    assert expired is not None
    assert expired.state is ReservationState.EXPIRED
    assert await stock.expire_due_reservations() == 0  # nothing is returned twice
    expiry = store_keys.bucket_expiry(bucket_of(product.id))
    assert await inventory.store.redis.zrange(expiry, 0, -1) == [b"long"]
    ttl = await inventory.store.redis.pttl(store_keys.reservation(product.id, "short"))
    assert 23 * 3600_000 < ttl <= 24 * 3600_000  # final reservations are kept a day


async def test_held_reservations_are_counted_across_every_bucket(inventory: Inventory) -> None:
    products = [await inventory.product(quantity=10) for _ in range(12)]
    buckets = {bucket_of(product.id) for product in products}
    assert len({bucket // COUNT_CHUNK for bucket in buckets}) > 1  # more than one pipeline
    for n, product in enumerate(products):
        await inventory.stock.reserve_stock(SERVICE, product.id, 1, f"held-{n}", ttl_ms=MINUTE)
    assert await inventory.store.stock.count_held() == len(products)


async def test_concurrent_sweeps_return_stock_once(inventory: Inventory) -> None:
    product = await inventory.product(quantity=100)
    for i in range(40):
        await inventory.stock.reserve_stock(SERVICE, product.id, 2, f"r{i}", ttl_ms=MINUTE)
    inventory.clock.advance(MINUTE)
    store = inventory.store.stock
    # Three instances found the same due reservations; each now runs the expiry script.
    due = await store.due(inventory.clock.now)
    assert len(due) == 40
    sweeps = await asyncio.gather(*(store.expire(due, inventory.clock.now) for _ in range(3)))
    assert sorted(sweeps) == [0, 0, 40]
    assert await _counters(inventory, product.id) == (100, 0, 0, 100)
    assert await store.due(inventory.clock.now) == []


async def test_a_due_reservation_cannot_be_committed_before_the_sweep(inventory: Inventory) -> None:
    product = await inventory.product(quantity=5)
    await inventory.stock.reserve_stock(SERVICE, product.id, 5, "late", ttl_ms=MINUTE)
    inventory.clock.advance(MINUTE)
    with pytest.raises(ReservationExpired):
        await inventory.stock.commit_reservation(SERVICE, "late")
    assert await _counters(inventory, product.id) == (5, 0, 0, 5)
    assert await inventory.stock.expire_due_reservations() == 0


async def test_the_sweeper_task_runs_until_stopped(inventory: Inventory) -> None:
    product = await inventory.product(quantity=5)
    await inventory.stock.reserve_stock(SERVICE, product.id, 5, "r", ttl_ms=MINUTE)
    inventory.clock.advance(MINUTE)
    sweeper = ReservationSweeper(inventory.stock.expire_due_reservations, interval=0.01)
    sweeper.start()
    for _ in range(100):
        if (await _counters(inventory, product.id))[0] == 5:
            break
        await asyncio.sleep(0.01)
    await sweeper.stop()
    assert await _counters(inventory, product.id) == (5, 0, 0, 5)


async def test_adjust_applies_once_even_when_its_answer_was_lost(inventory: Inventory) -> None:
    product = await inventory.product(quantity=1)
    await inventory.stock.adjust_stock(ADMIN, product.id, 4, "restock", request_id="lost")
    # The answer never reached the client and the request-id record is gone; the retry
    # must still not add the stock a second time.
    await inventory.store.redis.delete(f"{store_keys.IDEMPOTENCY_PREFIX}:adjust_stock:lost")
    again = await inventory.stock.adjust_stock(ADMIN, product.id, 4, "restock", request_id="lost")
    assert again.quantity == 5
    analytics = await inventory.products.get_analytics(ADMIN, product.id)
    assert analytics.stock_updates == 1


async def test_a_lost_answer_marker_does_not_answer_another_request(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=1)
    await inventory.stock.adjust_stock(ADMIN, product.id, 4, "restock", request_id="lost")
    await inventory.store.redis.delete(f"{store_keys.IDEMPOTENCY_PREFIX}:adjust_stock:lost")
    # The same request id with another delta is not the retry the marker is for. (The marker
    # lives in its product's bucket: another product's request is told apart by the request-id
    # record alone, deleted here.)
    with pytest.raises(InvalidArgument) as caught:
        await inventory.stock.adjust_stock(ADMIN, product.id, 3, "restock", request_id="lost")
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert await _counters(inventory, product.id) == (5, 0, 0, 5)


async def test_reserve_by_request_id_holds_once_even_when_its_answer_was_lost(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    first = await inventory.stock.reserve_stock(SERVICE, product.id, 2, request_id="order-9")
    await inventory.store.redis.delete(f"{store_keys.IDEMPOTENCY_PREFIX}:reserve_stock:order-9")
    again = await inventory.stock.reserve_stock(SERVICE, product.id, 2, request_id="order-9")
    assert again == first
    assert await _counters(inventory, product.id) == (3, 2, 0, 5)


async def test_same_reservation_id_20_times_at_once(inventory: Inventory) -> None:
    product = await inventory.product(quantity=10)
    results = await asyncio.gather(
        *(inventory.stock.reserve_stock(SERVICE, product.id, 4, "dup") for _ in range(20))
    )
    assert len(set(results)) == 1
    assert await _counters(inventory, product.id) == (6, 4, 0, 10)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    price=st.one_of(
        st.integers(0, 10_000), st.integers(0, PRICE_MAX_MINOR), st.just(PRICE_MAX_MINOR)
    ),
    discount=st.integers(0, 100),
)
async def test_reserved_unit_price_is_the_exact_half_up_discount(
    inventory: Inventory, price: int, discount: int
) -> None:
    product = await inventory.product(price=price, discount_percentage=discount, quantity=1)
    held = await inventory.stock.reserve_stock(SERVICE, product.id, 1)
    assert held.unit_price_minor == apply_discount(price, discount)
    assert held.unit_price_minor == product.effective_price_minor

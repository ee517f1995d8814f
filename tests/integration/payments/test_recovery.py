"""Recovery never cancels a live charge, never leaves an order PROCESSING for good, is not held up
by entries it cannot settle, and undoes a sale whose charge lost its order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from estore.common.redis import RedisClient
from estore.payments.cards import CardInput
from estore.payments.errors import ReservationLost
from estore.payments.models import Order, OrderStatus, PaymentStatus
from estore.payments.rules import charge_key
from estore.payments.store import DUE
from tests.integration.payments.conftest import BUYER, Payments, build_payments, due_count


async def add_card(p: Payments) -> str:
    card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    return (await p.service.add_card(BUYER, card, "")).id


async def crashed_order(
    p: Payments, order_id: str, quantity: int = 2, method_id: str = ""
) -> Order:
    """An order a crashed call left PROCESSING with its lease lapsed, its stock held."""
    method = await p.service.get_method(BUYER, method_id or await add_card(p))
    reservation = await p.inventory.reserve("tea", quantity, order_id, 900)
    order = p.saga._new_order(order_id, 1, reservation, method)
    await p.store.create_order(order, processing_until_ms=0)
    return order


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


async def test_a_charge_outliving_its_lease_is_not_cancelled_by_recovery(
    redis: RedisClient,
) -> None:
    # The charge takes 2.5 s; the lease is 1 s; recovery looks every 0.1 s.
    p = build_payments(redis, lease_seconds=1)
    p.processor.charge_seconds = 2.5
    method = await add_card(p)
    recovery = p.recovery(interval=0.1)
    recovery.start()
    try:
        order = await p.service.create_order(BUYER, "tea", 2, method, "")
    finally:
        await recovery.stop()
    assert (order.status, order.payment_status) == (OrderStatus.PAID, PaymentStatus.COMPLETED)
    assert p.inventory.reservations[order.reservation_id].state == "COMMITTED"
    assert await p.processor.refunds_of(order.charge_id) == []  # never voided
    assert await due_count(redis, "processing") == 0


async def test_a_hold_sold_without_a_charge_is_given_back_and_the_order_cancelled(
    payments: Payments,
) -> None:
    order = await crashed_order(payments, "sold")
    await payments.inventory.commit(order.reservation_id)  # sold, but no charge was ever made
    assert payments.inventory.available["tea"] == 8
    await payments.recovery(later).run_once()
    settled = await payments.service.get_order(BUYER, "sold")
    assert (settled.status, settled.payment_status, settled.payment_error) == (
        OrderStatus.CANCELLED, PaymentStatus.FAILED, "INTERRUPTED",
    )  # fmt: skip
    assert payments.inventory.available["tea"] == 10  # the units went back, once
    assert payments.inventory.restocks == {"unsell:sold": 2}
    assert await payments.store.due("processing", 2**62, 10) == []


async def test_vanished_and_stuck_entries_do_not_block_the_ones_behind_them(
    payments: Payments, redis: RedisClient
) -> None:
    payments.inventory.available["tea"] = 1000
    method = await add_card(payments)
    token = (await payments.service.get_method(BUYER, method)).processor_token
    # 100 ids whose order is gone, and 100 charged orders whose hold Inventory cannot commit
    # now, all due first...
    await redis.zadd(DUE["processing"], {f"gone{i}": i for i in range(100)})
    for i in range(100):
        stuck = await crashed_order(payments, f"stuck{i}", quantity=1, method_id=method)
        await payments.processor.charge(token, stuck.total_minor, "USD", charge_key(stuck))
        await redis.zadd(DUE["processing"], {stuck.id: 100 + i})
        payments.inventory.broken.add(stuck.reservation_id)
    # ...and one order behind them that can be settled.
    await crashed_order(payments, "last")
    await redis.zadd(DUE["processing"], {"last": 10_000})
    await payments.recovery(later).run_once()
    assert (await payments.service.get_order(BUYER, "last")).status is OrderStatus.CANCELLED
    remaining = await payments.store.due("processing", 2**62, 1000)
    assert sorted(remaining) == sorted(f"stuck{i}" for i in range(100))
    # The stuck ones are tried again once Inventory answers.
    payments.inventory.broken.clear()
    await payments.recovery(lambda: later() + timedelta(minutes=5)).run_once()
    assert await due_count(redis, "processing") == 0
    assert (await payments.service.get_order(BUYER, "stuck0")).status is OrderStatus.PAID


async def test_a_charge_landing_after_its_order_was_cancelled_is_voided_and_unsold(
    payments: Payments,
) -> None:
    order = await crashed_order(payments, "late")
    method = await payments.service.get_method(BUYER, order.payment_method_id)
    # Recovery gave up on it while Inventory could not be reached: CANCELLED, hold left as is.
    payments.inventory.broken.add(order.reservation_id)
    await payments.saga.settlement.resume(order)
    assert (await payments.service.get_order(BUYER, "late")).status is OrderStatus.CANCELLED
    payments.inventory.broken.clear()
    # Then the stalled call's charge lands and commits the hold that was never released.
    charge = await payments.processor.charge(
        method.processor_token, order.total_minor, "USD", charge_key(order)
    )
    with pytest.raises(ReservationLost):
        await payments.saga.settlement.paid(order, charge.charge_id)
    assert await payments.processor.refunds_of(charge.charge_id) == [order.total_minor]
    assert payments.inventory.available["tea"] == 10  # no units count as sold
    assert payments.inventory.held() == 0


async def test_two_recovery_passes_at_once_settle_an_order_once(payments: Payments) -> None:
    await crashed_order(payments, "both")
    passes = [payments.recovery(later), payments.recovery(later)]
    handled = await asyncio.gather(*(p.run_once() for p in passes))
    assert sorted(handled) == [0, 1]
    assert (await payments.service.get_order(BUYER, "both")).status is OrderStatus.CANCELLED

"""An order being charged is listed under a status once its charge settles, never lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from estore.payments.cards import CardInput
from estore.payments.errors import CardDeclined, ProcessorUnavailable
from estore.payments.models import OrderStatus
from tests.integration.payments.conftest import BUYER, Payments


async def _card(p: Payments, number: str = "4242424242424242") -> str:
    return (await p.service.add_card(BUYER, CardInput(number, 12, 2030, "123", "Ana"), "")).id


async def _listed(p: Payments, status: OrderStatus | None) -> list[str]:
    return [order.id for order in (await p.service.list_orders(BUYER, status, 0, 50, ""))[0]]


async def test_an_order_being_charged_is_listed_only_without_a_status(payments: Payments) -> None:
    method = await _card(payments)
    payments.processor.charge_seconds = 0.5
    creating = asyncio.create_task(payments.service.create_order(BUYER, "tea", 1, method, "r1"))
    await asyncio.sleep(0.3)
    [order_id] = await _listed(payments, None)
    assert await _listed(payments, OrderStatus.PENDING) == []
    order = await creating
    assert order.status is OrderStatus.PAID
    assert await _listed(payments, OrderStatus.PAID) == [order_id]
    assert await _listed(payments, OrderStatus.PENDING) == []
    assert await _listed(payments, None) == [order_id]


async def test_a_settled_charge_lists_the_order_under_its_status(payments: Payments) -> None:
    declined = await _card(payments, "4000000000000002")
    try:
        await payments.service.create_order(BUYER, "tea", 1, declined, "")
    except CardDeclined as error:
        cancelled = error.metadata["order_id"]
    unavailable = await _card(payments, "4000000000000119")
    try:
        await payments.service.create_order(BUYER, "tea", 1, unavailable, "")
    except ProcessorUnavailable as error:
        waiting = error.metadata["order_id"]
    assert await _listed(payments, OrderStatus.CANCELLED) == [cancelled]
    assert await _listed(payments, OrderStatus.PENDING) == [waiting]
    # Paid later, the waiting order moves from PENDING to PAID like any other.
    method = await _card(payments)
    await payments.service.pay_order(BUYER, waiting, method, "")
    assert await _listed(payments, OrderStatus.PENDING) == []
    assert await _listed(payments, OrderStatus.PAID) == [waiting]


async def test_an_order_whose_call_died_mid_charge_is_listed_once_recovered(
    payments: Payments,
) -> None:
    method = await payments.service.get_method(BUYER, await _card(payments))
    reservation = await payments.inventory.reserve("tea", 2, "crashed", 900)
    order = payments.saga._new_order("crashed", 1, reservation, method)
    await payments.store.create_order(order, processing_until_ms=0)  # as the dead call left it
    assert await _listed(payments, OrderStatus.PENDING) == []
    later = datetime.now(UTC) + timedelta(minutes=5)
    await payments.recovery(lambda: later).run_once()
    assert await _listed(payments, OrderStatus.CANCELLED) == ["crashed"]  # never charged
    assert await _listed(payments, None) == ["crashed"]

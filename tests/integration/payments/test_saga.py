"""The saga against real Redis and the simulated processor (Inventory faked by its rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.exceptions

from estore.common import errors
from estore.common.redis import PoolExhausted
from estore.payments.cards import CardInput
from estore.payments.errors import CardDeclined, ProcessorUnavailable
from estore.payments.models import OrderStatus, PaymentStatus
from estore.payments.rules import charge_key
from tests.integration.payments.conftest import ADMIN, BUYER, OTHER, Payments

SUCCEEDS = "4242424242424242"
DECLINES = {
    "4000000000000002": "CARD_DECLINED",
    "4000000000009995": "INSUFFICIENT_FUNDS",
    "4000000000000069": "EXPIRED_CARD",
}
PROCESSOR_ERROR = "4000000000000119"


async def add_card(p: Payments, number: str = SUCCEEDS, caller=BUYER) -> str:
    card = CardInput(number, 12, 2030, "123", "Ana Lima")
    return (await p.service.add_card(caller, card, "")).id


async def test_a_good_card_pays_with_exact_money(payments: Payments) -> None:
    method = await add_card(payments)
    order = await payments.service.create_order(BUYER, "tea", 3, method, "r1")
    assert order.status is OrderStatus.PAID
    assert order.payment_status is PaymentStatus.COMPLETED
    assert (order.unit_price_minor, order.price_minor, order.fee_minor, order.total_minor) == (
        1999, 5997, 300, 6297,
    )  # fmt: skip
    assert payments.inventory.reservations[order.reservation_id].state == "COMMITTED"
    assert await payments.processor.charges_for(charge_key(order)) == 1
    stored = await payments.service.get_order(BUYER, order.id)
    assert stored.status is OrderStatus.PAID


@pytest.mark.parametrize(("number", "code"), sorted(DECLINES.items()))
async def test_each_decline_cancels_and_releases(
    payments: Payments, number: str, code: str
) -> None:
    method = await add_card(payments, number)
    with pytest.raises(CardDeclined) as caught:
        await payments.service.create_order(BUYER, "tea", 2, method, "")
    assert caught.value.reason == code
    order = await payments.service.get_order(BUYER, caught.value.metadata["order_id"])
    assert order.status is OrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.FAILED
    assert order.payment_error == code
    assert payments.inventory.available["tea"] == 10
    assert payments.inventory.held() == 0


async def test_processor_error_keeps_the_order_pending(payments: Payments) -> None:
    method = await add_card(payments, PROCESSOR_ERROR)
    with pytest.raises(ProcessorUnavailable) as caught:
        await payments.service.create_order(BUYER, "tea", 1, method, "")
    order = await payments.service.get_order(BUYER, caught.value.metadata["order_id"])
    assert order.status is OrderStatus.PENDING
    assert order.payment_status is PaymentStatus.PENDING
    assert payments.inventory.held() == 1
    good = await add_card(payments)
    paid = await payments.service.pay_order(BUYER, order.id, good, "")
    assert paid.status is OrderStatus.PAID


async def test_same_request_id_is_one_order_and_a_changed_request_is_refused(
    payments: Payments,
) -> None:
    method = await add_card(payments)
    first = await payments.service.create_order(BUYER, "tea", 1, method, "same")
    again = await payments.service.create_order(BUYER, "tea", 1, method, "same")
    assert again == first
    with pytest.raises(errors.InvalidArgument) as caught:
        await payments.service.create_order(BUYER, "tea", 2, method, "same")
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert payments.inventory.available["tea"] == 9


async def test_crash_before_charge_is_undone_by_recovery(payments: Payments) -> None:
    method = await payments.service.get_method(BUYER, await add_card(payments))
    # Stand in for a crash: reserve and write a PROCESSING order, then never charge.
    saga = payments.saga
    reservation = await payments.inventory.reserve("tea", 2, "crashed", 900)
    order = saga._new_order("crashed", 1, reservation, method)
    await payments.store.create_order(order, processing_until_ms=0)
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await payments.recovery(lambda: later).run_once() == 1
    recovered = await payments.service.get_order(BUYER, "crashed")
    assert recovered.status is OrderStatus.CANCELLED
    assert recovered.payment_error == "INTERRUPTED"
    assert payments.inventory.available["tea"] == 10


async def test_crash_after_charge_is_finished_by_recovery(payments: Payments) -> None:
    method = await payments.service.get_method(BUYER, await add_card(payments))
    saga = payments.saga
    reservation = await payments.inventory.reserve("tea", 2, "charged", 900)
    order = saga._new_order("charged", 1, reservation, method)
    await payments.store.create_order(order, processing_until_ms=0)
    await payments.processor.charge(
        method.processor_token, order.total_minor, "USD", charge_key(order)
    )
    later = datetime.now(UTC) + timedelta(minutes=1)
    await payments.recovery(lambda: later).run_once()
    recovered = await payments.service.get_order(BUYER, "charged")
    assert recovered.status is OrderStatus.PAID
    assert payments.inventory.reservations["charged"].state == "COMMITTED"
    assert await payments.processor.charges_for(charge_key(order)) == 1


async def test_unpaid_orders_expire_and_give_stock_back(payments: Payments) -> None:
    order = await payments.service.create_order(BUYER, "tea", 4, "", "")
    assert order.status is OrderStatus.PENDING
    later = order.expires_at + timedelta(seconds=1)
    await payments.recovery(lambda: later).run_once()
    assert (await payments.service.get_order(BUYER, order.id)).status is OrderStatus.CANCELLED
    assert payments.inventory.available["tea"] == 10


async def test_refunds_add_up_to_total_and_restock_once(payments: Payments) -> None:
    method = await add_card(payments)
    order = await payments.service.create_order(BUYER, "tea", 2, method, "")
    with pytest.raises(errors.PermissionDenied):
        await payments.service.refund_order(BUYER, order.id, 100, "", False, "")
    part = await payments.service.refund_order(ADMIN, order.id, 1000, "dent", True, "")
    assert part.status is OrderStatus.PARTIALLY_REFUNDED
    assert part.refund_amount_minor == 1000
    assert payments.inventory.available["tea"] == 10  # 8 + the 2 restocked
    with pytest.raises(errors.FailedPrecondition) as caught:
        await payments.service.refund_order(ADMIN, order.id, order.total_minor, "", False, "")
    assert caught.value.reason == "REFUND_EXCEEDS_REMAINING"
    rest = await payments.service.refund_order(ADMIN, order.id, None, "gone", True, "")
    assert rest.status is OrderStatus.REFUNDED
    assert rest.refund_amount_minor == order.total_minor
    assert [r.amount_minor for r in rest.refunds] == [1000, order.total_minor - 1000]
    assert payments.inventory.available["tea"] == 10  # restocked only once


async def test_owners_only(payments: Payments) -> None:
    method = await add_card(payments)
    order = await payments.service.create_order(BUYER, "tea", 1, method, "")
    with pytest.raises(errors.NotFound):
        await payments.service.get_order(OTHER, order.id)
    with pytest.raises(errors.NotFound):
        await payments.service.get_method(OTHER, method)
    assert (await payments.service.get_order(ADMIN, order.id)).id == order.id
    noted = await payments.service.add_note(BUYER, order.id, "leave at the door")
    assert [n.text for n in noted.notes] == ["leave at the door"]


async def test_a_failed_order_write_keeps_its_hold_for_a_retry(
    payments: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = await add_card(payments)
    write = payments.store.create_order

    async def store_down(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(payments.store, "create_order", write)  # back for the retry
        raise redis.exceptions.ConnectionError("the master is failing over")

    monkeypatch.setattr(payments.store, "create_order", store_down)
    with pytest.raises(redis.exceptions.ConnectionError):
        await payments.service.create_order(BUYER, "tea", 2, method, "r-failover")
    assert payments.inventory.held() == 2  # kept: a retry may come (else it expires)

    order = await payments.service.create_order(BUYER, "tea", 2, method, "r-failover")
    assert order.status is OrderStatus.PAID
    assert payments.inventory.reservations[order.reservation_id].state == "COMMITTED"
    assert payments.inventory.available["tea"] == 8


async def test_an_order_write_that_found_the_pool_busy_releases_its_hold(
    payments: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = await add_card(payments)

    async def busy(*args: object, **kwargs: object) -> object:
        raise PoolExhausted("no Redis connection became free in time")  # nothing was sent

    monkeypatch.setattr(payments.store, "create_order", busy)
    with pytest.raises(PoolExhausted):
        await payments.service.create_order(BUYER, "tea", 2, method, "r-busy")
    assert payments.inventory.held() == 0
    assert payments.inventory.available["tea"] == 10

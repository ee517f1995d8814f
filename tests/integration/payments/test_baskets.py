"""Baskets against real Redis and the simulated processor (Inventory faked by its rules): every
line held or none, one fee and one charge, and a basket whose call died or stalled between two
holds undone by recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from estore.common import errors
from estore.common.redis import RedisClient
from estore.payments.cards import CardInput
from estore.payments.errors import CardDeclined, InsufficientStock, ProductNotFound, ReservationLost
from estore.payments.inventory_client import Reservation
from estore.payments.models import OrderStatus, PaymentStatus
from estore.payments.rules import charge_key
from tests.integration.payments.conftest import (
    BASKET,
    BUYER,
    STOCK,
    FakeInventory,
    Payments,
    build_payments,
    due_count,
)


async def add_card(p: Payments, number: str = "4242424242424242") -> str:
    card = CardInput(number, 12, 2030, "123", "Ana Lima")
    return (await p.service.add_card(BUYER, card, "")).id


async def test_a_basket_is_priced_per_line_with_one_fee_and_charged_once(shop: Payments) -> None:
    method = await add_card(shop)
    order = await shop.service.create_order(BUYER, "", 0, method, "basket-1", BASKET)
    assert (order.status, order.payment_status) == (OrderStatus.PAID, PaymentStatus.COMPLETED)
    lines = [(x.product_id, x.quantity, x.unit_price_minor, x.price_minor) for x in order.lines]
    assert lines == [("kettle", 1, 4999, 4999), ("mug", 2, 1250, 2500), ("tea", 3, 1999, 5997)]
    # 134.96, and 5 % of it once: 6.748 rounded half-up.
    assert (order.price_minor, order.fee_minor, order.total_minor) == (13496, 675, 14171)
    assert (order.product_id, order.quantity, order.unit_price_minor) == ("", 0, 0)
    assert await shop.processor.charges_for(charge_key(order)) == 1
    held = shop.inventory.reservations
    assert {held[li.reservation_id].state for li in order.lines} == {"COMMITTED"}
    assert shop.inventory.available == {"kettle": 4, "mug": 8, "tea": 7}
    assert await due_count(shop.redis, "creating") == 0  # the intent went with the write
    assert (await shop.service.get_order(BUYER, order.id)) == order


@pytest.mark.parametrize(
    ("basket", "error", "field"),
    [
        ([("kettle", 1), ("mug", 11), ("tea", 3)], InsufficientStock, "items[1].quantity"),
        ([("kettle", 1), ("mug", 2), ("teapot", 1)], ProductNotFound, "items[2].product_id"),
    ],
)
async def test_a_line_that_cannot_be_held_releases_every_line(
    shop: Payments, basket: list[tuple[str, int]], error: type[Exception], field: str
) -> None:
    method = await add_card(shop)
    with pytest.raises(error) as caught:
        await shop.service.create_order(BUYER, "", 0, method, "basket-2", basket)
    assert [v.field for v in caught.value.violations] == [field]  # type: ignore[attr-defined]
    assert shop.inventory.available == STOCK
    assert shop.inventory.held() == 0
    assert (await shop.service.list_orders(BUYER, None, 0, 50, ""))[0] == []
    assert await due_count(shop.redis, "creating") == 0
    with pytest.raises(errors.DomainError) as again:  # the same request is told the same
        await shop.service.create_order(BUYER, "", 0, method, "basket-2", basket)
    assert again.value.reason == caught.value.reason  # type: ignore[attr-defined]
    assert [v.field for v in again.value.violations] == [field]


async def test_a_retry_may_list_the_lines_in_any_order_but_not_other_lines(
    shop: Payments,
) -> None:
    method = await add_card(shop)
    first = await shop.service.create_order(BUYER, "", 0, method, "basket-3", BASKET)
    again = await shop.service.create_order(BUYER, "", 0, method, "basket-3", BASKET[::-1])
    assert again == first
    with pytest.raises(errors.InvalidArgument) as caught:
        await shop.service.create_order(BUYER, "", 0, method, "basket-3", BASKET[:2])
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert shop.inventory.available == {"kettle": 4, "mug": 8, "tea": 7}


async def test_both_forms_at_once_and_bad_lines_are_invalid(shop: Payments) -> None:
    with pytest.raises(errors.InvalidArgument) as both:
        await shop.service.create_order(BUYER, "tea", 1, "", "", BASKET)
    assert [v.field for v in both.value.violations] == ["items"]
    with pytest.raises(errors.InvalidArgument) as bad:
        await shop.service.create_order(BUYER, "", 0, "", "", [("tea", 1), ("mug", 0), ("tea", 2)])
    assert [v.field for v in bad.value.violations] == ["items[1].quantity", "items[2].product_id"]
    with pytest.raises(errors.InvalidArgument) as many:
        await shop.service.create_order(BUYER, "", 0, "", "", [(f"p{i}", 1) for i in range(51)])
    assert [v.field for v in many.value.violations] == ["items"]
    assert shop.inventory.reservations == {}


async def test_a_declined_basket_releases_every_line(shop: Payments) -> None:
    method = await add_card(shop, "4000000000000002")
    with pytest.raises(CardDeclined) as caught:
        await shop.service.create_order(BUYER, "", 0, method, "", BASKET)
    order = await shop.service.get_order(BUYER, caught.value.metadata["order_id"])
    assert (order.status, order.payment_error) == (OrderStatus.CANCELLED, "CARD_DECLINED")
    assert shop.inventory.available == STOCK


async def test_an_unpaid_basket_expires_and_every_line_goes_back(shop: Payments) -> None:
    order = await shop.service.create_order(BUYER, "", 0, "", "", BASKET)
    assert order.status is OrderStatus.PENDING
    assert shop.inventory.held() == 6
    later = order.expires_at + timedelta(seconds=1)
    await shop.recovery(lambda: later).run_once()
    expired = await shop.service.get_order(BUYER, order.id)
    assert (expired.status, expired.cancel_reason) == (OrderStatus.CANCELLED, "RESERVATION_EXPIRED")
    assert shop.inventory.available == STOCK


async def test_cancelling_a_basket_releases_every_line(shop: Payments) -> None:
    order = await shop.service.create_order(BUYER, "", 0, "", "", BASKET)
    cancelled = await shop.service.cancel_order(BUYER, order.id, "changed my mind")
    assert cancelled.status is OrderStatus.CANCELLED
    assert shop.inventory.available == STOCK


async def test_a_line_whose_hold_lapsed_before_payment_voids_the_charge_and_unsells(
    shop: Payments,
) -> None:
    order = await shop.service.create_order(BUYER, "", 0, "", "", BASKET)
    await shop.inventory.release(order.lines[1].reservation_id)  # the mugs' hold lapsed
    with pytest.raises(ReservationLost):
        await shop.service.pay_order(BUYER, order.id, await add_card(shop), "")
    failed = await shop.service.get_order(BUYER, order.id)
    assert (failed.status, failed.payment_error) == (OrderStatus.CANCELLED, "RESERVATION_EXPIRED")
    charge = await shop.processor.find_charge(charge_key(order))
    assert charge is not None
    assert await shop.processor.refunds_of(charge.charge_id) == [order.total_minor]
    assert shop.inventory.available == STOCK  # the lines committed before went back
    assert sorted(shop.inventory.restocks) == sorted(
        f"unsell:{li.reservation_id}" for li in (order.lines[0], order.lines[2])
    )


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


async def test_an_attempt_that_died_between_two_holds_is_released_by_recovery(
    shop: Payments,
) -> None:
    # Stand in for a crash: the attempt recorded, the kettle held, then nothing more.
    plan = [("kettle", 1, "dead-0"), ("mug", 2, "dead-1")]
    lease = int((datetime.now(UTC) + timedelta(seconds=30)).timestamp() * 1000)
    await shop.store.baskets.begin("dead", plan, lease)
    await shop.inventory.reserve("kettle", 1, "dead-0", 900)
    assert await shop.recovery().run_once() == 0  # its lease has not lapsed: the call may live
    assert shop.inventory.held() == 1
    assert await shop.recovery(later).run_once() == 1
    assert shop.inventory.held() == 0
    assert shop.inventory.available == STOCK
    assert await due_count(shop.redis, "creating") == 0
    assert not await shop.redis.exists(shop.store.baskets.intent_key("dead"))
    assert await shop.store.get_order("dead") is None


class SlowMugs(FakeInventory):
    """Holds mugs only once `go` is set, so an attempt can be caught between two holds."""

    def __init__(self, stock: dict[str, int], unit_price: int) -> None:
        super().__init__(stock, unit_price)
        self.go = asyncio.Event()
        self.others_held = asyncio.Event()  # kettle and tea are held, mugs wait

    async def reserve(
        self, product_id: str, quantity: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation:
        if product_id == "mug":
            await self.go.wait()
        held = await super().reserve(product_id, quantity, reservation_id, ttl_seconds)
        if self.held() == 4 and not self.go.is_set():
            self.others_held.set()
        return held


async def test_an_attempt_stalled_past_its_lease_is_undone_and_cannot_write_its_order(
    redis: RedisClient,
) -> None:
    p = build_payments(redis, lease_seconds=1)
    p.inventory = inventory = SlowMugs(STOCK, 1999)
    p.saga.baskets._inventory = p.saga.settlement._inventory = inventory
    attempt = asyncio.create_task(p.service.create_order(BUYER, "", 0, "", "", BASKET))
    await asyncio.wait_for(inventory.others_held.wait(), 10)
    assert await p.recovery(later).run_once() == 1  # gave up on it: kettle and tea released
    assert inventory.held() == 0
    inventory.go.set()  # the stalled call goes on and holds the mugs, too late
    with pytest.raises(ReservationLost):
        await attempt
    assert inventory.held() == 0
    assert inventory.available == STOCK
    assert (await p.service.list_orders(BUYER, None, 0, 50, ""))[0] == []
    assert await due_count(redis, "creating") == 0


async def test_a_basket_left_processing_is_finished_or_undone_by_recovery(shop: Payments) -> None:
    method = await shop.service.get_method(BUYER, await add_card(shop))
    for order_id, charged in (("b-charged", True), ("b-dead", False)):
        # Stand in for a crash during the charge: every line held, the order written, and the
        # charge made (or not) by a call that then died.
        plan = [(p, q, f"{order_id}-{k}") for k, (p, q) in enumerate(BASKET)]
        await shop.store.baskets.begin(order_id, plan, 0)
        held = [await shop.inventory.reserve(p, q, rid, 900) for p, q, rid in plan]
        order = shop.saga._new_order(order_id, 1, held, method)
        await shop.store.create_order(order, processing_until_ms=0)
        if charged:
            await shop.processor.charge(
                method.processor_token, order.total_minor, "USD", charge_key(order)
            )
    assert await shop.recovery(later).run_once() == 2
    paid = await shop.service.get_order(BUYER, "b-charged")
    assert (paid.status, paid.payment_status) == (OrderStatus.PAID, PaymentStatus.COMPLETED)
    assert await shop.processor.charges_for(charge_key(paid)) == 1
    dead = await shop.service.get_order(BUYER, "b-dead")
    assert (dead.status, dead.payment_error) == (OrderStatus.CANCELLED, "INTERRUPTED")
    states = {rid: r.state for rid, r in shop.inventory.reservations.items()}
    assert states == {
        **{f"b-charged-{k}": "COMMITTED" for k in range(3)},
        **{f"b-dead-{k}": "RELEASED" for k in range(3)},
    }
    assert shop.inventory.available == {"kettle": 4, "mug": 8, "tea": 7}
    assert await due_count(shop.redis, "creating") == 0

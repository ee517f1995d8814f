"""Orders the code before baskets wrote to Redis (one product, no lines) still read, refund and
recover, written here field by field as that code wrote them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from estore.common.redis import RedisClient
from estore.payments.buckets import LEGACY
from estore.payments.cards import CardInput
from estore.payments.codec import order_from_json
from estore.payments.keys import DUE, index, legacy_admin_index, order_key
from estore.payments.models import OrderStatus, PaymentStatus, RefundState
from tests.integration.payments.conftest import ADMIN, BUYER, Payments

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def old_fields(
    order_id: str, status: str, payment_status: str, **extra: str | int
) -> dict[str, str | int]:
    """The hash of a one-product order of 2 tea at 19.99 (fee 2.00), as it used to be stored."""
    return {
        "id": order_id, "user_id": 1, "product_id": "tea", "quantity": 2, "currency": "USD",
        "unit_price": 1999, "price": 3998, "fee": 200, "total": 4198, "refund_amount": 0,
        "status": status, "payment_status": payment_status, "reservation_id": order_id,
        "created_at": NOW_MS, "updated_at": NOW_MS, "expires_at": NOW_MS + 900_000,
        "payment_method_id": "", "payment_error": "", "cancel_reason": "", "charge_id": "",
        "restocked": 0, **extra,
    }  # fmt: skip


async def write_old_order(
    redis: RedisClient, fields: dict[str, str | int], lease_ms: int | None = None
) -> None:
    order_id, status = str(fields["id"]), OrderStatus(str(fields["status"]))
    member = f"{fields['created_at']:015d}:{order_id}"
    await redis.hset(order_key(order_id), mapping=dict(fields))  # type: ignore[arg-type]
    keys = (legacy_admin_index(None), legacy_admin_index(status))
    for key in (*keys, index(1, None, LEGACY), index(1, status, LEGACY)):
        await redis.zadd(key, {member: 0})
    if lease_ms is not None:
        await redis.zadd(DUE["processing"], {order_id: lease_ms})


async def paid_old_order(
    p: Payments, order_id: str, status: str = "PAID", **extra: str | int
) -> None:
    """A paid old order: its 2 tea held, sold, charged."""
    await p.inventory.reserve("tea", 2, order_id, 900)
    await p.inventory.commit(order_id)
    card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    method = await p.service.add_card(BUYER, card, "")
    charge = await p.processor.charge(method.processor_token, 4198, "USD", f"{order_id}:charge")
    fields = old_fields(order_id, status, "COMPLETED", charge_id=charge.charge_id, **extra)
    await write_old_order(p.redis, fields)


async def test_an_old_order_reads_as_one_line(payments: Payments) -> None:
    await paid_old_order(payments, "old1")
    order = await payments.service.get_order(BUYER, "old1")
    assert [(li.product_id, li.quantity, li.unit_price_minor, li.reservation_id)
            for li in order.lines] == [("tea", 2, 1999, "old1")]  # fmt: skip
    assert (order.product_id, order.quantity, order.total_minor) == ("tea", 2, 4198)
    listed, _ = await payments.service.list_orders(BUYER, None, 0, 50, "")
    assert [o.id for o in listed] == ["old1"]


async def test_an_old_order_refunds_by_amount_and_by_line_with_its_units_back_once(
    payments: Payments,
) -> None:
    await paid_old_order(payments, "old2")
    assert payments.inventory.available["tea"] == 8
    part = await payments.service.refund_order(ADMIN, "old2", None, "", True, "", [("tea", 1)])
    assert part.refunds[0].amount_minor == 1999 + 100  # a unit and half the fee
    assert payments.inventory.available["tea"] == 9
    rest = await payments.service.refund_order(ADMIN, "old2", None, "rest", True, "")
    assert (rest.status, rest.refund_amount_minor, rest.restocked) == (
        OrderStatus.REFUNDED, 4198, True,
    )  # fmt: skip
    assert payments.inventory.available["tea"] == 10


async def test_an_old_order_restocked_by_the_old_code_is_never_restocked_again(
    payments: Payments,
) -> None:
    # Half refunded with restock by the old code: its refund entry has no units, the order's
    # flag and claim say its units went back.
    entry = {"amount": 2000, "reason": "dent", "restocked": True, "at": NOW_MS, "by": 99}
    await paid_old_order(payments, "old3", "PARTIALLY_REFUNDED", refund_amount=2000,
                         restocked=1, restock_claim="x")  # fmt: skip
    await payments.redis.rpush(f"{order_key('old3')}:refunds", json.dumps(entry))
    payments.inventory.available["tea"] += 2  # the old code's restock
    order = await payments.service.get_order(ADMIN, "old3")
    assert (order.restocked, order.lines[0].restocked) == (True, 2)
    assert [(r.state, r.restocked) for r in order.refunds] == [(RefundState.COMPLETED, True)]
    rest = await payments.service.refund_order(ADMIN, "old3", None, "", True, "")
    assert (rest.status, rest.refund_amount_minor) == (OrderStatus.REFUNDED, 4198)
    assert rest.refunds[1].units == ()
    assert payments.inventory.available["tea"] == 10  # not 12


async def test_an_old_order_left_processing_is_recovered(payments: Payments) -> None:
    for order_id, charged in (("old-paid", True), ("old-dead", False)):
        await payments.inventory.reserve("tea", 2, order_id, 900)
        card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
        method = await payments.service.add_card(BUYER, card, "")
        if charged:
            await payments.processor.charge(method.processor_token, 4198, "USD",
                                            f"{order_id}:charge")  # fmt: skip
        fields = old_fields(order_id, "PENDING", "PROCESSING", payment_method_id=method.id)
        await write_old_order(payments.redis, fields, lease_ms=0)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await payments.recovery(lambda: later).run_once() == 2
    paid = await payments.service.get_order(BUYER, "old-paid")
    assert (paid.status, paid.payment_status) == (OrderStatus.PAID, PaymentStatus.COMPLETED)
    assert payments.inventory.reservations["old-paid"].state == "COMMITTED"
    dead = await payments.service.get_order(BUYER, "old-dead")
    assert (dead.status, dead.payment_error) == (OrderStatus.CANCELLED, "INTERRUPTED")
    assert payments.inventory.reservations["old-dead"].state == "RELEASED"
    assert payments.inventory.available["tea"] == 8


async def test_an_old_stored_reply_still_decodes(payments: Payments) -> None:
    # What the idempotency record of an old CreateOrder holds.
    stored = {"fields": old_fields("old5", "PAID", "COMPLETED"), "notes": [], "refunds": []}
    order = order_from_json(json.loads(json.dumps(stored)))
    assert [(li.product_id, li.quantity) for li in order.lines] == [("tea", 2)]

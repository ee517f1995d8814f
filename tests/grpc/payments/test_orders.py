"""Orders through a real PaymentService that reserves stock in a real InventoryService."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import grpc
import pytest

from estore.common.redis import text
from generated.estore.common.v1 import money_pb2
from generated.estore.payments.v1 import payment_service_pb2 as pb
from tests.grpc.payments.conftest import Shop
from tests.helpers import error_details

DECLINES = {
    "4000000000000002": "CARD_DECLINED",
    "4000000000009995": "INSUFFICIENT_FUNDS",
    "4000000000000069": "EXPIRED_CARD",
}


def order_request(product_id: str, quantity: int = 1, method: str = "", request_id: str = ""):
    return pb.CreateOrderRequest(
        product_id=product_id, quantity=quantity, payment_method_id=method, request_id=request_id
    )


async def test_a_paid_order_has_exact_money_and_commits_stock(shop: Shop) -> None:
    product = await shop.product(quantity=10, price_minor=1999, discount=15)
    method = await shop.card()
    reply = await shop.payments.CreateOrder(order_request(product, 3, method), metadata=shop.buyer)
    order = reply.order
    assert order.status == pb.ORDER_STATUS_PAID
    assert order.payment_status == pb.PAYMENT_STATUS_COMPLETED
    assert order.unit_price.minor_units == 1699  # 1999 less 15 %, half-up
    assert (order.price.minor_units, order.fee.minor_units, order.total.minor_units) == (
        5097, 255, 5352,
    )  # fmt: skip
    assert order.total.currency_code == "USD"
    assert await shop.stock(product) == (7, 0)


@pytest.mark.parametrize(("number", "code"), sorted(DECLINES.items()))
async def test_declines_release_the_stock(shop: Shop, number: str, code: str) -> None:
    product = await shop.product(quantity=5)
    method = await shop.card(number)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(order_request(product, 2, method), metadata=shop.buyer)
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.FAILED_PRECONDITION
    assert details.reason == code
    order_id = details.infos[0].metadata["order_id"]
    order = (
        await shop.payments.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=shop.buyer)
    ).order
    assert order.status == pb.ORDER_STATUS_CANCELLED
    assert order.payment_status == pb.PAYMENT_STATUS_FAILED
    assert order.payment_error == code
    assert await shop.stock(product) == (5, 0)


async def test_processor_error_is_unavailable_and_keeps_the_order(shop: Shop) -> None:
    product = await shop.product(quantity=5)
    method = await shop.card("4000000000000119")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(order_request(product, 1, method), metadata=shop.buyer)
    details = error_details(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.UNAVAILABLE, "PROCESSOR_UNAVAILABLE")
    assert await shop.stock(product) == (4, 1)  # still held for PayOrder


async def test_300_buyers_for_100_units(shop: Shop) -> None:
    product = await shop.product(quantity=100, price_minor=500)
    method = await shop.card()

    async def buy() -> str:
        try:
            reply = await shop.payments.CreateOrder(
                order_request(product, 1, method), metadata=shop.buyer, timeout=60
            )
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}:{error_details(error).reason}"
        return pb.OrderStatus.Name(reply.order.status)

    outcomes = Counter(await asyncio.gather(*(buy() for _ in range(300))))
    assert outcomes == {"ORDER_STATUS_PAID": 100, "FAILED_PRECONDITION:INSUFFICIENT_STOCK": 200}
    assert await shop.stock(product) == (0, 0)
    paid = await shop.payments.ListOrders(
        pb.ListOrdersRequest(filter=pb.OrderFilter(status=pb.ORDER_STATUS_PAID), page_size=500),
        metadata=shop.buyer,
    )
    assert len(paid.orders) == 100
    pending = await shop.payments.ListOrders(
        pb.ListOrdersRequest(filter=pb.OrderFilter(status=pb.ORDER_STATUS_PENDING)),
        metadata=shop.buyer,
    )
    assert list(pending.orders) == []


async def test_one_request_id_30_times_is_one_order_and_one_charge(shop: Shop) -> None:
    product = await shop.product(quantity=50)
    method = await shop.card()
    request = order_request(product, 2, method, request_id="checkout-42")
    replies = await asyncio.gather(
        *(shop.payments.CreateOrder(request, metadata=shop.buyer, timeout=30) for _ in range(30))
    )
    assert len({r.SerializeToString(deterministic=True) for r in replies}) == 1
    assert replies[0].order.status == pb.ORDER_STATUS_PAID
    charges = [k async for k in shop.redis.scan_iter(match="sim:{sim}:charge:*")]
    assert len(charges) == 1
    assert await shop.stock(product) == (48, 0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(
            order_request(product, 3, method, request_id="checkout-42"), metadata=shop.buyer
        )
    assert error_details(caught.value).reason == "REQUEST_ID_REUSED"


async def test_inventory_down_is_unavailable_within_the_deadline(shop: Shop) -> None:
    product = await shop.product(quantity=5)
    method = await shop.card()
    await shop.inventory_server.stop(grace=0)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(
            order_request(product, 1, method), metadata=shop.buyer, timeout=3
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 3
    assert error_details(caught.value).reason == "INVENTORY_UNAVAILABLE"
    orders = await shop.payments.ListOrders(pb.ListOrdersRequest(), metadata=shop.buyer)
    assert list(orders.orders) == []
    assert [k async for k in shop.redis.scan_iter(match="sim:{sim}:charge:*")] == []


async def test_pending_order_paid_later_then_refunded_in_parts(shop: Shop) -> None:
    product = await shop.product(quantity=5, price_minor=1000)
    order = (await shop.payments.CreateOrder(order_request(product, 2), metadata=shop.buyer)).order
    assert (order.status, order.payment_status) == (
        pb.ORDER_STATUS_PENDING, pb.PAYMENT_STATUS_PENDING,
    )  # fmt: skip
    assert await shop.stock(product) == (3, 2)
    method = await shop.card()
    paid = await shop.payments.PayOrder(
        pb.PayOrderRequest(order_id=order.id, payment_method_id=method), metadata=shop.buyer
    )
    assert paid.order.status == pb.ORDER_STATUS_PAID
    assert paid.order.total.minor_units == 2100
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.RefundOrder(
            pb.RefundOrderRequest(order_id=order.id), metadata=shop.buyer
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    usd = money_pb2.Money(currency_code="USD", minor_units=600)
    part = await shop.payments.RefundOrder(
        pb.RefundOrderRequest(order_id=order.id, amount=usd, reason="scratched"),
        metadata=shop.admin,
    )
    assert part.order.status == pb.ORDER_STATUS_PARTIALLY_REFUNDED
    rest = await shop.payments.RefundOrder(
        pb.RefundOrderRequest(order_id=order.id, restock=True), metadata=shop.admin
    )
    assert rest.order.status == pb.ORDER_STATUS_REFUNDED
    assert rest.order.refund_amount.minor_units == 2100
    assert await shop.stock(product) == (5, 0)


async def test_cancel_gives_stock_back(shop: Shop) -> None:
    product = await shop.product(quantity=5)
    order = (await shop.payments.CreateOrder(order_request(product, 2), metadata=shop.buyer)).order
    cancelled = await shop.payments.CancelOrder(
        pb.CancelOrderRequest(order_id=order.id, reason="changed my mind"), metadata=shop.buyer
    )
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED
    assert await shop.stock(product) == (5, 0)


async def test_strangers_see_nothing_and_unverified_cannot_buy(shop: Shop) -> None:
    product = await shop.product(quantity=5)
    method = await shop.card()
    order = (
        await shop.payments.CreateOrder(order_request(product, 1, method), metadata=shop.buyer)
    ).order
    for call in (
        shop.payments.GetOrder(pb.GetOrderRequest(order_id=order.id), metadata=shop.other),
        shop.payments.AddOrderNote(
            pb.AddOrderNoteRequest(order_id=order.id, note="hi"), metadata=shop.other
        ),
        shop.payments.DeletePaymentMethod(
            pb.DeletePaymentMethodRequest(payment_method_id=method), metadata=shop.other
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(order_request(product, 1), metadata=shop.unverified)
    assert error_details(caught.value).reason == "EMAIL_NOT_VERIFIED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(order_request(product, 1))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_card_numbers_and_cvcs_reach_neither_redis_nor_logs(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = ["4242424242424242", "4000000000000002", "5555555555554444"]
    cvc = "987"
    for number in numbers:
        card = pb.Card(number=number, exp_month=12, exp_year=2031, cvc=cvc, holder_name="Ana")
        await shop.payments.AddPaymentMethod(
            pb.AddPaymentMethodRequest(type=pb.PAYMENT_METHOD_TYPE_CARD, card=card),
            metadata=shop.buyer,
        )
    bad = pb.Card(number="4242424242424241", exp_month=12, exp_year=2031, cvc=cvc)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.AddPaymentMethod(
            pb.AddPaymentMethodRequest(type=pb.PAYMENT_METHOD_TYPE_CARD, card=bad),
            metadata=shop.buyer,
        )
    assert "4242424242424241" not in str(caught.value.details())
    values: list[Any] = []
    async for key in shop.redis.scan_iter():
        values.append(key)
        kind = text(await shop.redis.type(key))
        if kind == "hash":
            for field, value in (await shop.redis.hgetall(key)).items():
                values += [field, value]
        elif kind == "string":
            values.append(await shop.redis.get(key) or b"")
        elif kind in ("zset", "list"):
            fetch = shop.redis.zrange if kind == "zset" else shop.redis.lrange
            values += await fetch(key, 0, -1)
    dump = b"\n".join(values)
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert len(values) > 10
    assert logged
    for number in [*numbers, "4242424242424241"]:
        assert number.encode() not in dump
        assert number not in logged
    assert b"cvc" not in dump.lower()
    assert cvc.encode() not in values


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (order_request("", 1), "product_id"),
        (order_request("p", 0), "quantity"),
        (order_request("p", 10_001), "quantity"),
        (order_request("p", 1, request_id="x" * 200), "request_id"),
    ],
)
async def test_bad_order_requests_are_invalid_argument(shop: Shop, request_, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(request_, metadata=shop.buyer)
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in details.violated_fields

"""Orders of several lines through a real PaymentService that reserves every line in a real
InventoryService over gRPC: one fee and one charge, all or nothing, baskets racing for shared
scarce stock, and refunds of one line."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import grpc
import pytest

from estore.inventory import store_keys
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.payments.v1 import payment_service_pb2 as pb
from tests.grpc.payments.conftest import Shop
from tests.helpers import error_details


def basket(
    *lines: tuple[str, int], method: str = "", request_id: str = ""
) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        items=[pb.LineItem(product_id=p, quantity=q) for p, q in lines],
        payment_method_id=method,
        request_id=request_id,
    )


async def counters(shop: Shop, product_id: str) -> dict[str, int]:
    """Inventory's own counters of a product: available, reserved, sold and added."""
    raw = await shop.redis.hmget(
        store_keys.product(product_id), ["quantity", "reserved", "sold", "added"]
    )
    values = [int(value or 0) for value in raw]
    return dict(zip(("available", "reserved", "sold", "added"), values, strict=True))


async def charges(shop: Shop) -> list[dict[str, object]]:
    """Every charge the simulated card network recorded."""
    found = [key async for key in shop.redis.scan_iter(match="sim:{sim}:charge:*")]
    return [json.loads(await shop.redis.get(key) or b"{}") for key in found]


async def test_a_three_line_order_has_exact_line_prices_one_fee_and_one_charge(
    shop: Shop,
) -> None:
    kettle = await shop.product(quantity=5, price_minor=4990)
    mugs = await shop.product(quantity=10, price_minor=1250, discount=20)  # 10.00 each
    tea = await shop.product(quantity=10, price_minor=1999, discount=15)  # 16.99 each
    method = await shop.card()
    request = basket((kettle, 1), (mugs, 2), (tea, 3), method=method, request_id="basket-1")
    order = (await shop.payments.CreateOrder(request, metadata=shop.buyer)).order

    assert order.status == pb.ORDER_STATUS_PAID
    items = [(i.product_id, i.quantity, i.unit_price.minor_units, i.price.minor_units)
             for i in order.items]  # fmt: skip
    assert items == [(kettle, 1, 4990, 4990), (mugs, 2, 1000, 2000), (tea, 3, 1699, 5097)]
    # 120.87, and 5 % of it taken once: 6.0435, half-up 6.04 (a fee per line would make 6.05).
    assert (order.price.minor_units, order.fee.minor_units, order.total.minor_units) == (
        12087, 604, 12691,
    )  # fmt: skip
    assert (order.product_id, order.quantity, order.unit_price.minor_units) == ("", 0, 0)
    assert [(c["amount"], c["outcome"]) for c in await charges(shop)] == [(12691, "succeeded")]
    for product, bought, stock in ((kettle, 1, 5), (mugs, 2, 10), (tea, 3, 10)):
        assert await shop.stock(product) == (stock - bought, 0)
    listed = await shop.payments.ListOrders(pb.ListOrdersRequest(), metadata=shop.buyer)
    assert [list(o.items) for o in listed.orders] == [list(order.items)]


async def test_a_one_product_order_shows_its_one_line(shop: Shop) -> None:
    tea = await shop.product(quantity=5, price_minor=1999)
    request = pb.CreateOrderRequest(product_id=tea, quantity=2)
    order = (await shop.payments.CreateOrder(request, metadata=shop.buyer)).order
    [item] = order.items
    assert (item.product_id, item.quantity, item.unit_price.minor_units) == (tea, 2, 1999)
    assert (item.reservation_id, order.reservation_id) == (order.id, order.id)
    assert (order.product_id, order.quantity, order.unit_price.minor_units) == (tea, 2, 1999)


@pytest.mark.parametrize(
    ("failing", "code", "reason", "field"),
    [
        (("mugs", 11), grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_STOCK",
         "items[1].quantity"),
        (("gone", 1), grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND", "items[1].product_id"),
    ],
)  # fmt: skip
async def test_a_line_that_fails_refuses_the_order_names_the_line_and_holds_nothing(
    shop: Shop, failing: tuple[str, int], code: grpc.StatusCode, reason: str, field: str
) -> None:
    kettle = await shop.product(quantity=5)
    mugs = await shop.product(quantity=10)
    tea = await shop.product(quantity=10)
    gone = await shop.product(quantity=0)
    await shop.inventory.DeleteProduct(
        inv_pb.DeleteProductRequest(product_id=gone), metadata=shop.admin
    )
    middle = {"mugs": mugs, "gone": gone}[failing[0]]
    method = await shop.card()
    request = basket((kettle, 1), (middle, failing[1]), (tea, 3), method=method)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(request, metadata=shop.buyer)
    details = error_details(caught.value)
    assert (details.code, details.reason) == (code, reason)
    assert details.violated_fields == {field}
    for product, stock in ((kettle, 5), (mugs, 10), (tea, 10)):
        assert await shop.stock(product) == (stock, 0)  # nothing held for any line
    assert await charges(shop) == []
    listed = await shop.payments.ListOrders(pb.ListOrdersRequest(), metadata=shop.buyer)
    assert list(listed.orders) == []


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.CreateOrderRequest(product_id="p", quantity=1, items=[pb.LineItem(product_id="q",
                                                                               quantity=1)]),
         {"items"}),
        (basket(("p", 1), ("p", 2)), {"items[1].product_id"}),
        (basket(("p", 0), ("", 1)), {"items[0].quantity", "items[1].product_id"}),
        (basket(*((f"p{i}", 1) for i in range(51))), {"items"}),
    ],
)  # fmt: skip
async def test_bad_baskets_are_invalid_argument(
    shop: Shop, request_: pb.CreateOrderRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.CreateOrder(request_, metadata=shop.buyer)
    details = error_details(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD")
    assert details.violated_fields == fields


BASKETS = 40
SHARED = 5
STOCK = 12


async def test_40_baskets_racing_for_shared_scarce_stock_are_all_or_nothing(shop: Shop) -> None:
    products = [await shop.product(quantity=STOCK, price_minor=500 + n) for n in range(SHARED)]
    method = await shop.card()
    pick = random.Random(13)
    baskets = [[(p, pick.randint(1, 3)) for p in pick.sample(products, 3)] for _ in range(BASKETS)]

    async def buy(lines: list[tuple[str, int]]) -> pb.Order | str:
        try:
            reply = await shop.payments.CreateOrder(
                basket(*lines, method=method), metadata=shop.buyer, timeout=60
            )
        except grpc.aio.AioRpcError as error:
            details = error_details(error)
            [field] = details.violated_fields  # the failing line is named
            assert field.endswith("].quantity")
            return f"{error.code().name}:{details.reason}"
        order: pb.Order = reply.order
        return order

    # No deadlock: every call answers, well within the bound.
    outcomes = await asyncio.wait_for(asyncio.gather(*(buy(b) for b in baskets)), 120)
    paid = [o for o in outcomes if isinstance(o, pb.Order)]
    refused = Counter(o for o in outcomes if isinstance(o, str))
    assert {o.status for o in paid} == {pb.ORDER_STATUS_PAID}
    assert set(refused) == {"FAILED_PRECONDITION:INSUFFICIENT_STOCK"}
    assert paid  # some baskets were bought whole,
    assert refused  # and the stock ran out for others

    sold = Counter[str]()
    for order in paid:
        sold.update({item.product_id: item.quantity for item in order.items})
    for product in products:
        stock = await counters(shop, product)
        assert stock["reserved"] == 0  # no basket holds anything: paid ones sold, others released
        assert stock["sold"] == sold[product] <= STOCK  # no oversell
        assert stock["available"] + stock["reserved"] + stock["sold"] == stock["added"] == STOCK
    assert len(await charges(shop)) == len(paid)


async def test_refunding_one_line_with_restock_returns_exactly_its_units(shop: Shop) -> None:
    kettle = await shop.product(quantity=5, price_minor=4999)
    mugs = await shop.product(quantity=10, price_minor=1250)
    method = await shop.card()
    order = (
        await shop.payments.CreateOrder(basket((kettle, 1), (mugs, 4), method=method),
                                        metadata=shop.buyer)
    ).order  # fmt: skip
    assert order.total.minor_units == 9999 + 500  # 99.99 and its fee, 5.00 (4.9995 half-up)
    request = pb.RefundOrderRequest(
        order_id=order.id, items=[pb.LineItem(product_id=mugs, quantity=3)], restock=True
    )
    refunded = (await shop.payments.RefundOrder(request, metadata=shop.admin)).order
    assert refunded.status == pb.ORDER_STATUS_PARTIALLY_REFUNDED
    [refund] = refunded.refunds
    # 3 mugs, 37.50, and their share of the fee: 5.00 x 37.50 / 99.99 = 1.875, half-up 1.88.
    assert refund.amount.minor_units == 3750 + 188
    assert refund.state == pb.REFUND_STATE_COMPLETED
    assert refund.restocked
    assert [(i.product_id, i.quantity) for i in refund.restocked_items] == [(mugs, 3)]
    assert [(i.product_id, i.refunded_quantity, i.restocked_quantity) for i in refunded.items] == [
        (kettle, 0, 0), (mugs, 3, 3),
    ]  # fmt: skip
    assert await shop.stock(mugs) == (9, 0)  # 6 left after the sale, 3 back
    assert await shop.stock(kettle) == (4, 0)  # untouched
    usd = money_pb2.Money(currency_code="USD", minor_units=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.payments.RefundOrder(
            pb.RefundOrderRequest(order_id=order.id, amount=usd, items=request.items),
            metadata=shop.admin,
        )
    assert error_details(caught.value).violated_fields == {"amount"}

"""Refunds against a real Inventory over gRPC: racing refunds never restock units that no
successful refund returned, and a processor outage mid-refund is finished by recovery with the
money and the stock in agreement."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.redis import connect_redis
from estore.inventory import store_keys
from estore.payments.processor import RefundOutcome, RefundResult, SimulatedProcessor
from estore.payments.store import order_key
from generated.estore.common.v1 import money_pb2
from generated.estore.payments.v1 import payment_service_pb2 as pb
from tests.grpc.payments.conftest import Shop, open_shop
from tests.helpers import error_details

ORDERS = 40
QUANTITY = 2


async def counters(shop: Shop, product_id: str) -> dict[str, int]:
    """Inventory's own counters of a product: available, reserved, sold and added."""
    raw = await shop.redis.hmget(
        store_keys.product(product_id), ["quantity", "reserved", "sold", "added"]
    )
    values = [int(value or 0) for value in raw]
    return dict(zip(("available", "reserved", "sold", "added"), values, strict=True))


async def paid_orders(shop: Shop, product_id: str, count: int) -> list[pb.Order]:
    method = await shop.card()
    request = pb.CreateOrderRequest(
        product_id=product_id, quantity=QUANTITY, payment_method_id=method
    )
    replies = await asyncio.gather(
        *(shop.payments.CreateOrder(request, metadata=shop.buyer, timeout=60) for _ in range(count))
    )
    assert {r.order.status for r in replies} == {pb.ORDER_STATUS_PAID}
    return [r.order for r in replies]


def refund_request(order: pb.Order, *, half: bool, restock: bool) -> pb.RefundOrderRequest:
    request = pb.RefundOrderRequest(order_id=order.id, restock=restock)
    if half:
        request.amount.CopyFrom(
            money_pb2.Money(currency_code="USD", minor_units=order.total.minor_units // 2)
        )
    return request


async def test_racing_refunds_restock_only_for_a_refund_that_succeeded(shop: Shop) -> None:
    product = await shop.product(quantity=ORDERS * QUANTITY, price_minor=1250)
    orders = await paid_orders(shop, product, ORDERS)
    before = await counters(shop, product)

    async def refund(request: pb.RefundOrderRequest) -> str:
        try:
            await shop.payments.RefundOrder(request, metadata=shop.admin, timeout=60)
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}:{error_details(error).reason}"
        return "OK"

    # Two admins refund each order at once, one asking to restock: the whole of it twice, or
    # half and the rest, with the restock on either side.
    pairs = []
    for i, order in enumerate(orders):
        half, restock_first = bool(i % 4 >= 2), bool(i % 2 == 0)
        pairs += [
            refund_request(order, half=half, restock=restock_first),
            refund_request(order, half=False, restock=not restock_first),
        ]
    outcomes = await asyncio.gather(*(refund(r) for r in pairs))
    refused = {
        f"FAILED_PRECONDITION:{r}" for r in ("ORDER_NOT_REFUNDABLE", "REFUND_EXCEEDS_REMAINING")
    }
    assert set(outcomes) <= {"OK", *refused}
    assert Counter(outcomes)["OK"] >= ORDERS

    simulator = SimulatedProcessor(shop.redis)
    restocked_units = 0
    for i, order in enumerate(orders):
        final = await get_order(shop, order.id)
        completed = [r for r in final.refunds if r.state == pb.REFUND_STATE_COMPLETED]
        assert len(completed) == len(final.refunds)  # nothing left half done
        assert final.status == pb.ORDER_STATUS_REFUNDED
        assert sum(r.amount.minor_units for r in completed) == final.total.minor_units
        # The money moved once per refund, at the processor.
        made = await simulator.refunds_of(await charge_id(shop, order.id))
        assert sorted(made) == sorted(r.amount.minor_units for r in completed)
        restocking = [r for r in completed if r.restocked]
        assert len(restocking) == int(final.restocked) <= 1
        # Restocked exactly when the refund that asked for it succeeded.
        asked = next(j for j in (2 * i, 2 * i + 1) if pairs[j].restock)
        assert final.restocked == (outcomes[asked] == "OK")
        restocked_units += QUANTITY * len(restocking)

    after = await counters(shop, product)
    assert after["added"] - before["added"] == restocked_units  # "added" never drifts
    assert after["available"] - before["available"] == restocked_units
    assert after["available"] + after["reserved"] + after["sold"] == after["added"]
    assert restocked_units > 0


async def charge_id(shop: Shop, order_id: str) -> str:
    raw = await shop.redis.hget(order_key(order_id), "charge_id")
    assert isinstance(raw, bytes)
    return raw.decode()


class FailingRefunds(SimulatedProcessor):
    """The simulator, whose refunds fail (retryably) while `failing` is set."""

    failing = True

    async def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        if self.failing:
            return RefundResult(RefundOutcome.PROCESSOR_ERROR)
        return await super().refund(charge_id, amount_minor, idempotency_key)


async def test_a_refund_cut_short_by_the_processor_is_finished_by_recovery(
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
) -> None:
    redis = connect_redis(redis_url, "test")
    processor = FailingRefunds(redis)
    env = {"ESTORE_PAYMENTS_LEASE_SECONDS": "1"}
    try:
        async with open_shop(
            redis_url, token_issuer, token_verifier, feed_env, processor=processor, env=env
        ) as shop:
            product = await shop.product(quantity=5, price_minor=1000)
            [order] = await paid_orders(shop, product, 1)
            with_restock = refund_request(order, half=False, restock=True)
            try:
                await shop.payments.RefundOrder(with_restock, metadata=shop.admin)
                raise AssertionError("the refund went through a failing processor")
            except grpc.aio.AioRpcError as error:
                details = error_details(error)
            assert (details.code, details.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "PROCESSOR_UNAVAILABLE",
            )
            pending = await get_order(shop, order.id)
            assert [r.state for r in pending.refunds] == [pb.REFUND_STATE_PENDING]
            assert pending.status == pb.ORDER_STATUS_PAID
            assert pending.refund_amount.minor_units == order.total.minor_units
            assert await shop.stock(product) == (3, 0)

            processor.failing = False  # the processor is back; no one retries the call
            settled = await wait_for_refund(shop, order.id)
            assert settled.status == pb.ORDER_STATUS_REFUNDED
            assert settled.restocked
            assert await processor.refunds_of(await charge_id(shop, order.id)) == [
                order.total.minor_units
            ]
            assert await shop.stock(product) == (5, 0)
            stock = await counters(shop, product)
            assert stock["added"] == 5 + QUANTITY
    finally:
        await redis.aclose()


async def get_order(shop: Shop, order_id: str) -> pb.Order:
    request = pb.GetOrderRequest(order_id=order_id)
    order: pb.Order = (await shop.payments.GetOrder(request, metadata=shop.admin)).order
    return order


async def wait_for_refund(shop: Shop, order_id: str) -> pb.Order:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        order = await get_order(shop, order_id)
        if all(r.state == pb.REFUND_STATE_COMPLETED for r in order.refunds):
            return order
        await asyncio.sleep(0.1)
    raise AssertionError("recovery did not finish the refund")

"""Payments SIGKILLed in the middle of an order or a refund: a restarted Payments settles it, and a
retry with the same request_id is answered soon after the restart."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from estore.inventory import store_keys
from estore.payments.processor import SimulatedProcessor
from estore.payments.store import order_key, refund_states_key
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from tests.e2e.killable import Rig


async def test_killed_between_reserve_and_charge(rig: Rig) -> None:
    product_id = await rig.product(quantity=5)
    # The processor answers slowly, so the kill lands between reserve and charge.
    stub = await rig.start(ESTORE_PAYMENTS_PROCESSOR_LATENCY_SECONDS="2")
    method = await rig.card(stub)
    call = stub.CreateOrder(
        pay_pb.CreateOrderRequest(product_id=product_id, quantity=2, payment_method_id=method),
        metadata=rig.buyer,
    )
    key = await _wait_for_processing_order(rig)
    assert await rig.levels(product_id) == (3, 2)
    rig.payments.kill()
    with pytest.raises(grpc.aio.AioRpcError):
        await call

    await rig.start()
    status = await _wait_for_settled(rig, key)
    charged = [k async for k in rig.redis.scan_iter(match="sim:{sim}:charge:*")]
    if charged:
        assert status == b"PAID"
        assert await rig.levels(product_id) == (3, 0)
    else:
        assert status == b"CANCELLED"
        assert await rig.levels(product_id) == (5, 0)


async def test_a_retry_after_a_kill_and_restart_is_answered_within_10_s(rig: Rig) -> None:
    product_id = await rig.product(quantity=5)
    # A long processing lease: recovery stays out of it, so the retry itself finishes the order.
    lease = {"ESTORE_PAYMENTS_LEASE_SECONDS": "30"}
    stub = await rig.start(ESTORE_PAYMENTS_PROCESSOR_LATENCY_SECONDS="2", **lease)
    method = await rig.card(stub)
    request = pay_pb.CreateOrderRequest(
        product_id=product_id, quantity=2, payment_method_id=method, request_id="checkout-7"
    )
    call = stub.CreateOrder(request, metadata=rig.buyer)
    await _wait_for_processing_order(rig)
    rig.payments.kill()  # the call dies holding its request_id
    with pytest.raises(grpc.aio.AioRpcError):
        await call

    stub = await rig.start(**lease)
    restarted = time.monotonic()
    reply = await stub.CreateOrder(request, metadata=rig.buyer, timeout=30)
    answered = time.monotonic() - restarted
    assert answered < 10, f"answered {answered:.1f} s after the restart"
    assert reply.order.status == pay_pb.ORDER_STATUS_PAID
    assert len([k async for k in rig.redis.scan_iter(match="sim:{sim}:charge:*")]) == 1
    assert await rig.levels(product_id) == (3, 0)
    again = await stub.CreateOrder(request, metadata=rig.buyer, timeout=30)
    assert again.order.id == reply.order.id


async def test_killed_in_the_middle_of_a_refund(rig: Rig) -> None:
    product_id = await rig.product(quantity=5, price_minor=1000)
    added = int(await rig.redis.hget(store_keys.product(product_id), "added") or 0)
    stub = await rig.start(ESTORE_PAYMENTS_PROCESSOR_LATENCY_SECONDS="2")
    method = await rig.card(stub)
    order = (
        await stub.CreateOrder(
            pay_pb.CreateOrderRequest(product_id=product_id, quantity=2, payment_method_id=method),
            metadata=rig.buyer,
        )
    ).order
    # The processor is slow to refund, so the kill lands after the refund is decided.
    call = stub.RefundOrder(
        pay_pb.RefundOrderRequest(order_id=order.id, restock=True), metadata=rig.admin
    )
    await _wait_for_refund_state(rig, order.id, {b"PENDING"})
    rig.payments.kill()
    with pytest.raises(grpc.aio.AioRpcError):
        await call

    await rig.start()  # no one retries the call: recovery finishes the refund
    await _wait_for_refund_state(rig, order.id, {b"COMPLETED"})
    status, charge_id = await rig.redis.hmget(order_key(order.id), ["status", "charge_id"])
    assert status == b"REFUNDED"
    assert isinstance(charge_id, bytes)
    refunded = await SimulatedProcessor(rig.redis).refunds_of(charge_id.decode())
    assert refunded == [order.total.minor_units]  # the money came back once
    assert await rig.levels(product_id) == (5, 0)  # and so did the units, once
    assert int(await rig.redis.hget(store_keys.product(product_id), "added") or 0) == added + 2


async def _wait_for_processing_order(rig: Rig) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async for key in rig.redis.scan_iter(match="pay:{pay*}:order:*"):
            if (
                key.count(b":") == 4  # the order's hash, not its lists
                and await rig.redis.hget(key, "payment_status") == b"PROCESSING"
            ):
                return bytes(key)
        await asyncio.sleep(0.02)
    raise AssertionError("no order reached PROCESSING")


async def _wait_for_settled(rig: Rig, key: bytes) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, payment = await rig.redis.hmget(key, ["status", "payment_status"])
        if payment != b"PROCESSING" and status in (b"PAID", b"CANCELLED"):
            return bytes(status)
        await asyncio.sleep(0.1)
    raise AssertionError("the restarted Payments did not settle the order")


async def _wait_for_refund_state(rig: Rig, order_id: str, states: set[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = await rig.redis.hgetall(refund_states_key(order_id))
        reached = {state for refund, state in found.items() if b":" not in refund}
        if reached and reached <= states:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the refund never reached {states}")

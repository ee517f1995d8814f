"""Payments SIGKILLed between two line reservations of a basket: the restarted Payments releases
the line it held, long before the hold would expire, and nothing is charged."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from estore.inventory.servicer import InventoryServicer
from generated.estore.inventory.v1.inventory_service_pb2 import BatchReserveStockRequest
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from tests.e2e.killable import Rig
from tests.helpers import error_details

RESERVATION_TTL_SECONDS = 900  # how long the hold would last without recovery


@pytest.fixture(autouse=True)  # before the rig starts Inventory
async def slow(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Products whose hold hangs in the rig's Inventory: the kill lands before them.

    A basket's lines usually ride in one batch (one script: all held at once), but a batch full
    of other orders' calls can split them over two; a hanging batch holds its other entries
    first, as the earlier of two batches would."""
    hanging: set[str] = set()
    reserve, batch = InventoryServicer.ReserveStock, InventoryServicer.BatchReserveStock

    async def slow_reserve(self: InventoryServicer, request: Any, context: Any) -> Any:
        if request.product_id in hanging:
            await asyncio.sleep(3600)  # cancelled when the caller goes away
        return await reserve(self, request, context)

    async def slow_batch(self: InventoryServicer, request: Any, context: Any) -> Any:
        others = [entry for entry in request.entries if entry.product_id not in hanging]
        if len(others) < len(request.entries):
            await batch(self, BatchReserveStockRequest(entries=others), context)
            await asyncio.sleep(3600)
        return await batch(self, request, context)

    monkeypatch.setattr(InventoryServicer, "ReserveStock", slow_reserve)
    monkeypatch.setattr(InventoryServicer, "BatchReserveStock", slow_batch)
    return hanging


async def test_killed_between_two_line_reservations(rig: Rig, slow: set[str]) -> None:
    kettle = await rig.product(quantity=5)
    mugs = await rig.product(quantity=10)
    slow.add(mugs)
    stub = await rig.start()
    method = await rig.card(stub)
    request = pay_pb.CreateOrderRequest(
        items=[
            pay_pb.LineItem(product_id=kettle, quantity=1),
            pay_pb.LineItem(product_id=mugs, quantity=2),
        ],
        payment_method_id=method,
        request_id="basket-7",
    )
    call = stub.CreateOrder(request, metadata=rig.buyer)
    await _wait_for(lambda: rig.levels(kettle), (4, 1))  # the kettle is held...
    assert await rig.levels(mugs) == (10, 0)  # ...the mugs not yet
    rig.payments.kill()
    with pytest.raises(grpc.aio.AioRpcError):
        await call

    stub = await rig.start()  # no one retries: recovery alone releases the kettle
    restarted = time.monotonic()
    await _wait_for(lambda: rig.levels(kettle), (5, 0))
    released = time.monotonic() - restarted
    assert released < RESERVATION_TTL_SECONDS / 10, f"released {released:.1f} s after restart"
    assert await rig.levels(mugs) == (10, 0)
    assert [k async for k in rig.redis.scan_iter(match="sim:{sim}:charge:*")] == []
    assert [k async for k in rig.redis.scan_iter(match="pay:{pay*}:order:*")] == []
    async for key in rig.redis.scan_iter(match="pay:{pay*}:orders:creating"):
        assert await rig.redis.zcard(key) == 0

    # A retry of the same request learns that its holds are gone, and holds nothing.
    slow.clear()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateOrder(request, metadata=rig.buyer, timeout=30)
    details = error_details(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RESERVATION_EXPIRED",
    )
    assert (await rig.levels(kettle), await rig.levels(mugs)) == ((5, 0), (10, 0))
    assert [k async for k in rig.redis.scan_iter(match="sim:{sim}:charge:*")] == []


async def _wait_for(read: Any, expected: tuple[int, int], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await read() == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {expected}: {await read()}")

"""Oversized requests are refused before they are read, and other callers do not notice."""

from __future__ import annotations

import asyncio

import grpc

from estore.inventory.app import MAX_MESSAGE_BYTES
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import usd


async def _code(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_oversized_requests_are_refused_while_small_calls_go_on(
    stub, callers, make_product
) -> None:
    product = await make_product(quantity=1)
    get = pb.GetProductRequest(product_id=product.id)

    def create(description_bytes: int):
        big = pb.Product(name="Huge", price=usd(1), description="x" * description_bytes)
        return stub.CreateProduct(pb.CreateProductRequest(product=big), metadata=callers.admin)

    # Just over the limit: refused by size, not by the (5,000-character) description rule.
    assert await _code(create(MAX_MESSAGE_BYTES)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Sixteen clients sending about 4 MB each, while others keep reading.
    big_calls = [_code(create(4_000_000)) for _ in range(16)]
    small_calls = [_code(stub.GetProduct(get)) for _ in range(50)]
    codes = await asyncio.gather(*big_calls, *small_calls)
    assert set(codes[:16]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert set(codes[16:]) == {grpc.StatusCode.OK}
    # Within the limit, the same RPC is judged on its fields.
    assert await _code(create(6_000)) == grpc.StatusCode.INVALID_ARGUMENT

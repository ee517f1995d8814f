"""Oversized requests are refused before they are read, and other callers do not notice."""

from __future__ import annotations

import asyncio

import grpc

from estore.common.auth import TokenVerifier
from estore.common.config import Settings
from estore.inventory.app import MAX_MESSAGE_BYTES, create_service
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc
from tests.grpc.inventory.conftest import Callers, usd
from tests.helpers import running_server

CLIENTS = 16


async def _code(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _create(stub, callers: Callers, description_bytes: int):
    big = pb.Product(name="Huge", price=usd(1), description="x" * description_bytes)
    return stub.CreateProduct(pb.CreateProductRequest(product=big), metadata=callers.admin)


async def test_oversized_requests_are_refused_while_small_calls_go_on(
    redis_url: str, token_verifier: TokenVerifier, callers: Callers, feed_env: dict[str, str]
) -> None:
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url, **feed_env})
    async with running_server(await create_service(settings), token_verifier) as (server, channel):
        stub = inventory_grpc.InventoryServiceStub(channel)
        product = await _create(stub, callers, 10)
        get = pb.GetProductRequest(product_id=product.product.id)
        # Just over the limit: refused by size, not by the (5,000-character) description rule.
        assert await _code(_create(stub, callers, MAX_MESSAGE_BYTES)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        # Sixteen clients sending about 4 MB each, while another keeps reading.
        clients = [grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") for _ in range(CLIENTS)]
        try:
            big_calls = [
                _code(_create(inventory_grpc.InventoryServiceStub(c), callers, 4_000_000))
                for c in clients
            ]
            small_calls = [_code(stub.GetProduct(get)) for _ in range(50)]
            codes = await asyncio.gather(*big_calls, *small_calls)
        finally:
            for client in clients:
                await client.close()
        assert set(codes[:CLIENTS]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert set(codes[CLIENTS:]) == {grpc.StatusCode.OK}
        # Within the limit, the same RPC is judged on its fields.
        assert await _code(_create(stub, callers, 6_000)) == grpc.StatusCode.INVALID_ARGUMENT

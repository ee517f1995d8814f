"""Hundreds of open WatchInventory streams cost Inventory no connection each: reads and orders
go on meanwhile, and streams beyond the configured cap are refused."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.redis import connect_redis
from estore.common.server import GrpcServer
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.grpc.payments.conftest import Shop, _token
from tests.helpers import bearer, error_details

WATCHERS = 500
CHANNELS = 5


@pytest.fixture
async def crowded_shop(
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
) -> AsyncIterator[Shop]:
    """Inventory (at most WATCHERS streams) and Payments, as the `shop` fixture wires them."""
    settings = Settings.from_env(
        {"ESTORE_REDIS_URL": redis_url, "ESTORE_INVENTORY_MAX_WATCHERS": str(WATCHERS), **feed_env}
    )
    inventory_server = GrpcServer(await create_inventory(settings), token_verifier)
    inventory_port = await inventory_server.start()
    settings = dataclasses.replace(
        settings,
        inventory_target=f"127.0.0.1:{inventory_port}",
        service_token=token_issuer.mint_service_token("payments", ttl_seconds=600).token,
    )
    payments_server = GrpcServer(await create_payments(settings), token_verifier)
    payments_port = await payments_server.start()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{inventory_port}") as inventory_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{payments_port}") as payments_channel,
    ):
        redis = connect_redis(redis_url, "test")
        yield Shop(
            inventory=inv_grpc.InventoryServiceStub(inventory_channel),
            payments=pay_grpc.PaymentServiceStub(payments_channel),
            inventory_server=inventory_server,
            payments_server=payments_server,
            redis=redis,
            admin=_token(token_issuer, 100, admin=True),
            buyer=_token(token_issuer, 1),
            other=_token(token_issuer, 2),
            unverified=_token(token_issuer, 3, verified=False),
        )
        await redis.aclose()
    await payments_server.stop(grace=0)
    await inventory_server.stop(grace=0)


async def _next(call) -> inv_pb.InventoryEvent:
    reply = await asyncio.wait_for(call.read(), timeout=30)
    assert reply is not grpc.aio.EOF
    event: inv_pb.InventoryEvent = reply.event
    return event


async def test_hundreds_of_watchers_leave_reads_and_orders_working(
    crowded_shop: Shop, token_issuer: TokenIssuer
) -> None:
    shop = crowded_shop
    service = bearer(token_issuer.mint_service_token("payments", ttl_seconds=600).token)
    product = await shop.product(quantity=50)
    method = await shop.card()
    first = shop.inventory.WatchInventory(
        inv_pb.WatchInventoryRequest(after_event_id="0-0"), metadata=shop.admin
    )
    created = await _next(first)
    first.cancel()

    port = shop.inventory_server.port
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(CHANNELS)]
    try:
        stubs = [inv_grpc.InventoryServiceStub(channel) for channel in channels]
        request = inv_pb.WatchInventoryRequest(after_event_id=created.id)
        watchers = [
            stubs[n % CHANNELS].WatchInventory(request, metadata=shop.admin if n % 2 else service)
            for n in range(WATCHERS)
        ]
        await shop.inventory.AdjustStock(
            inv_pb.AdjustStockRequest(product_id=product, delta=-1, reason="count"),
            metadata=shop.admin,
        )
        # Every stream is open and has its event: each is one watcher of the shared feed.
        events = await asyncio.gather(*(_next(call) for call in watchers))
        assert {event.reason for event in events} == {"count"}

        gets = [shop.stock(product) for _ in range(50)]
        assert set(await asyncio.gather(*gets)) == {(49, 0)}
        order = await shop.payments.CreateOrder(
            pay_pb.CreateOrderRequest(product_id=product, quantity=2, payment_method_id=method),
            metadata=shop.buyer,
        )
        assert order.order.status == pay_pb.ORDER_STATUS_PAID

        extra = shop.inventory.WatchInventory(request, metadata=shop.admin)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _next(extra)
        details = error_details(caught.value)
        assert (details.code, details.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_WATCHERS",
        )
        assert details.retry_infos[0].retry_delay.seconds > 0

        # The order's reservation and its commit reached every stream.
        later = await asyncio.gather(*(_next(call) for call in watchers))
        assert {(event.reason, event.reserved) for event in later} == {("reserve", 2)}
        for call in watchers:
            call.cancel()
    finally:
        for channel in channels:
            await channel.close()

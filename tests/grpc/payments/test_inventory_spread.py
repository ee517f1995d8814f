"""Payments spreads its calls over every Inventory instance, and skips one that is draining."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.grpc.payments.conftest import _token
from tests.grpc.payments.test_observability import INV, rpcs, scrape

ORDERS = 40


@dataclass
class TwoInventories:
    inventories: list[GrpcServer]
    inventory: inv_grpc.InventoryServiceStub  # reaches the first instance
    payments: pay_grpc.PaymentServiceStub
    admin: tuple[tuple[str, str], ...]
    buyer: tuple[tuple[str, str], ...]

    async def reservations(self) -> list[int]:
        """How many reserve batches each Inventory instance has answered (orders made one
        after another: one hold, one batch, each)."""
        ok = rpcs("inventory", INV + "BatchReserveStock", "OK")
        return [int((await scrape(server)).get(ok, 0)) for server in self.inventories]

    async def order(self, product_id: str) -> None:
        request = pay_pb.CreateOrderRequest(product_id=product_id, quantity=1)
        await self.payments.CreateOrder(request, metadata=self.buyer)


@pytest.fixture
async def two_inventories(
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
) -> AsyncIterator[TwoInventories]:
    """Two Inventory instances on one Redis; Payments reaches both through one ipv4: target."""
    settings = Settings.from_env({"ESTORE_REDIS_URL": redis_url, **feed_env})
    async with AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            server = GrpcServer(await create_inventory(settings), token_verifier)
            stack.push_async_callback(server.stop, 0)
            servers.append(server)
        ports = [await server.start() for server in servers]
        settings = dataclasses.replace(
            settings,
            inventory_target="ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports),
            service_token=token_issuer.mint_service_token("payments", ttl_seconds=600).token,
        )
        payments = GrpcServer(await create_payments(settings), token_verifier)
        stack.push_async_callback(payments.stop, 0)
        payments_port = await payments.start()
        inventory_channel = grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}")
        payments_channel = grpc.aio.insecure_channel(f"127.0.0.1:{payments_port}")
        stack.push_async_callback(inventory_channel.close)
        stack.push_async_callback(payments_channel.close)
        yield TwoInventories(
            servers,
            inv_grpc.InventoryServiceStub(inventory_channel),
            pay_grpc.PaymentServiceStub(payments_channel),
            admin=_token(token_issuer, 100, admin=True),
            buyer=_token(token_issuer, 1),
        )


async def _product(shop: TwoInventories) -> str:
    price = money_pb2.Money(currency_code="USD", minor_units=500)
    request = inv_pb.CreateProductRequest(product=inv_pb.Product(name="Tea", price=price))
    request.product.quantity = 1000
    return str((await shop.inventory.CreateProduct(request, metadata=shop.admin)).product.id)


@pytest.mark.single_redis  # about gRPC's balancing, not the store
async def test_each_inventory_instance_receives_between_35_and_65_percent_of_reservations(
    two_inventories: TwoInventories,
) -> None:
    product = await _product(two_inventories)
    for _ in range(ORDERS):
        await two_inventories.order(product)
    counts = await two_inventories.reservations()
    assert sum(counts) == ORDERS
    for count in counts:
        assert 0.35 * ORDERS <= count <= 0.65 * ORDERS, counts


@pytest.mark.single_redis
async def test_a_draining_inventory_instance_gets_no_new_calls(
    two_inventories: TwoInventories,
) -> None:
    product = await _product(two_inventories)
    await two_inventories.order(product)
    draining = two_inventories.inventories[0]
    await draining.health.enter_graceful_shutdown()  # what `stop` does first: NOT_SERVING
    # Payments learns it from its health watch; from then on every call goes to the other.
    in_a_row = 0
    for _ in range(50):
        before = await two_inventories.reservations()
        await two_inventories.order(product)
        after = await two_inventories.reservations()
        in_a_row = in_a_row + 1 if after[1] > before[1] else 0
        if in_a_row == 3:
            break
    assert in_a_row == 3, "calls still reach the draining instance"
    before = await two_inventories.reservations()
    for _ in range(10):
        await two_inventories.order(product)
    after = await two_inventories.reservations()
    assert after[0] == before[0]
    assert after[1] == before[1] + 10

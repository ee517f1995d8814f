"""A real InventoryService and a real PaymentService on port 0, talking over gRPC."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.redis import RedisClient, connect_redis
from estore.common.server import GrpcServer, ServiceDefinition
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments
from estore.payments.processor import Processor
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.helpers import bearer, on_both_redis_kinds

GOOD_CARD = "4242424242424242"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_redis_kinds(metafunc)  # every test here runs on a single Redis and on a cluster


@dataclass
class Shop:
    """Stubs and credentials for one test."""

    inventory: inv_grpc.InventoryServiceStub
    payments: pay_grpc.PaymentServiceStub
    inventory_server: GrpcServer
    payments_server: GrpcServer
    redis: RedisClient
    admin: tuple[tuple[str, str], ...]
    buyer: tuple[tuple[str, str], ...]
    other: tuple[tuple[str, str], ...]
    unverified: tuple[tuple[str, str], ...]

    async def product(self, quantity: int, price_minor: int = 1999, discount: int = 0) -> str:
        """Create a product with `quantity` in stock; its id."""
        product = inv_pb.Product(
            name="Green tea",
            price=money_pb2.Money(currency_code="USD", minor_units=price_minor),
            quantity=quantity,
            discount_percentage=discount,
            min_stock_level=0,
        )
        reply = await self.inventory.CreateProduct(
            inv_pb.CreateProductRequest(product=product), metadata=self.admin
        )
        return str(reply.product.id)

    async def stock(self, product_id: str) -> tuple[int, int]:
        """(available, reserved) of a product."""
        reply = await self.inventory.GetProduct(inv_pb.GetProductRequest(product_id=product_id))
        return int(reply.product.quantity), int(reply.product.reserved)

    async def card(
        self, number: str = GOOD_CARD, who: tuple[tuple[str, str], ...] | None = None
    ) -> str:
        """Add a card for `who` (the buyer by default); its payment method id."""
        card = pay_pb.Card(number=number, exp_month=12, exp_year=2031, cvc="123", holder_name="Ana")
        reply = await self.payments.AddPaymentMethod(
            pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card),
            metadata=who or self.buyer,
        )
        return str(reply.payment_method.id)


def fake_inventory(servicer: inv_grpc.InventoryServiceServicer) -> ServiceDefinition:
    """A service definition serving `servicer` as InventoryService (a stand-in the test scripts)."""
    return ServiceDefinition(
        name="inventory",
        full_name="estore.inventory.v1.InventoryService",
        register=lambda server: inv_grpc.add_InventoryServiceServicer_to_server(servicer, server),
    )


def _token(issuer: TokenIssuer, user_id: int, *, admin: bool = False, verified: bool = True):
    token = issuer.issue_access_token(
        user_id, is_admin=admin, is_verified=verified, ttl_seconds=600
    )
    return bearer(token.token)


@pytest.fixture
async def shop(
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
) -> AsyncIterator[Shop]:
    async with open_shop(redis_url, token_issuer, token_verifier, feed_env) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_shop(
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
    *,
    processor: Processor | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Shop]:
    """Inventory and Payments on port 0; `processor` and `env` override the defaults."""
    settings = Settings.from_env(
        {
            "ESTORE_REDIS_URL": redis_url,
            "ESTORE_PAYMENTS_SWEEP_INTERVAL_SECONDS": "0.2",
            **feed_env,
        }
        | (env or {})
    )
    inventory_server = GrpcServer(await create_inventory(settings), token_verifier)
    inventory_port = await inventory_server.start()
    settings = dataclasses.replace(
        settings,
        inventory_target=f"127.0.0.1:{inventory_port}",
        service_token=token_issuer.mint_service_token("payments", ttl_seconds=600).token,
    )
    payments_server = GrpcServer(
        await create_payments(settings, processor=processor), token_verifier
    )
    payments_port = await payments_server.start()
    inventory_channel = grpc.aio.insecure_channel(f"127.0.0.1:{inventory_port}")
    payments_channel = grpc.aio.insecure_channel(f"127.0.0.1:{payments_port}")
    redis = connect_redis(redis_url, "test")
    try:
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
    finally:
        await redis.aclose()
        await inventory_channel.close()
        await payments_channel.close()
        await payments_server.stop(grace=0)
        await inventory_server.stop(grace=0)

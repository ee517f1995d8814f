"""A real InventoryService on port 0 over the test Redis, and tokens for every kind of caller."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.inventory.app import create_service
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc
from tests.helpers import ErrorDetails, bearer, error_details, on_both_redis_kinds, running_server

Metadata = tuple[tuple[str, str], ...]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_redis_kinds(metafunc)  # every test here runs on a single Redis and on a cluster


@dataclass(frozen=True)
class Callers:
    """Call metadata for an admin, a plain user, an internal service, and nobody."""

    admin: Metadata
    user: Metadata
    service: Metadata
    anonymous: Metadata = ()


def usd(minor_units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", minor_units=minor_units)


@pytest.fixture
def callers(token_issuer: TokenIssuer) -> Callers:
    def user(user_id: int, admin: bool) -> Metadata:
        token = token_issuer.issue_access_token(
            user_id, is_admin=admin, is_verified=True, ttl_seconds=600
        )
        return bearer(token.token)

    service = token_issuer.mint_service_token("payments", ttl_seconds=600)
    return Callers(admin=user(1, True), user=user(2, False), service=bearer(service.token))


@pytest.fixture
async def stub(redis_url: str, token_verifier: TokenVerifier, feed_env: dict[str, str]):
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url, **feed_env})
    definition = await create_service(settings, sweep_interval=0.05)
    async with running_server(definition, token_verifier) as (_, channel):
        yield inventory_grpc.InventoryServiceStub(channel)


@pytest.fixture
def make_product(stub, callers: Callers):
    async def make(name: str = "Widget", price: int = 1000, **fields) -> pb.Product:
        product = pb.Product(name=name, price=usd(price), **fields)
        reply = await stub.CreateProduct(
            pb.CreateProductRequest(product=product), metadata=callers.admin
        )
        created: pb.Product = reply.product
        return created

    return make


@pytest.fixture
def make_category(stub, callers: Callers):
    async def make(name: str, parent_id: str = "") -> pb.Category:
        category = pb.Category(name=name, parent_id=parent_id)
        reply = await stub.CreateCategory(
            pb.CreateCategoryRequest(category=category), metadata=callers.admin
        )
        created: pb.Category = reply.category
        return created

    return make


async def expect_error(call, code: grpc.StatusCode, reason: str) -> ErrorDetails:
    """Await a call that must fail with `code` and ErrorInfo `reason`; its details."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    details = error_details(caught.value)
    assert (details.code, details.reason) == (code, reason), details.message
    assert details.infos[0].domain == "estore.inventory"
    return details

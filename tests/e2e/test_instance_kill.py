"""One of two Inventory processes SIGKILLed under an order load: every CreateOrder that failed
completes when retried with its request_id, and money and stock agree afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.redis import RedisClient, connect_redis
from estore.common.server import GrpcServer
from estore.embedded.ports import free_port
from estore.payments.app import create_service as create_payments
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.e2e.killable import ServiceProcess, wait_until_serving
from tests.e2e.order_load import (
    RETRYABLE,
    OrderLoad,
    add_card,
    make_products,
    stock_levels,
    units_paid,
)
from tests.helpers import bearer

STOCK = 10_000


@dataclass
class Shop:
    inventories: list[ServiceProcess]
    inventory: inv_grpc.InventoryServiceStub  # reaches the second instance, which survives
    payments: pay_grpc.PaymentServiceStub
    redis: RedisClient


@pytest.fixture
async def shop(
    payments_env: dict[str, str], tmp_path: Path, redis_url: str, token_verifier: TokenVerifier
) -> AsyncIterator[Shop]:
    """Two `estore serve inventory` processes; Payments here reaches both by round_robin."""
    inventories = [
        ServiceProcess(
            "inventory",
            payments_env | {"ESTORE_INVENTORY_PORT": str(free_port())},
            tmp_path / f"inventory-{number}.log",
        )
        for number in range(2)
    ]
    async with AsyncExitStack() as stack:
        for process in inventories:
            stack.callback(process.kill)
            process.start(ESTORE_INVENTORY_METRICS_PORT="0")
        for process in inventories:
            await wait_until_serving(process)
        addresses = ",".join(f"127.0.0.1:{process.port}" for process in inventories)
        settings = dataclasses.replace(
            Settings.from_env(payments_env), inventory_target=f"ipv4:{addresses}"
        )
        payments = GrpcServer(await create_payments(settings), token_verifier)
        stack.push_async_callback(payments.stop, 0)
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            for port in (inventories[1].port, await payments.start())
        ]
        for channel in channels:
            stack.push_async_callback(channel.close)
        redis = connect_redis(redis_url, "test")
        stack.push_async_callback(redis.aclose)
        yield Shop(
            inventories,
            inv_grpc.InventoryServiceStub(channels[0]),
            pay_grpc.PaymentServiceStub(channels[1]),
            redis,
        )


def _token(issuer: TokenIssuer, user_id: int, admin: bool = False) -> tuple[tuple[str, str], ...]:
    minted = issuer.issue_access_token(user_id, is_admin=admin, is_verified=True, ttl_seconds=600)
    return bearer(minted.token)


async def test_killing_an_inventory_instance_fails_no_order_a_retry_cannot_complete(
    shop: Shop, token_issuer: TokenIssuer
) -> None:
    products = await make_products(
        shop.inventory, _token(token_issuer, 9, admin=True), count=3, quantity=STOCK
    )
    buyers = [_token(token_issuer, user) for user in range(1, 4)]
    load = OrderLoad(
        shop.payments, [(buyer, await add_card(shop.payments, buyer)) for buyer in buyers], products
    )
    running = asyncio.create_task(load.run(workers=6, seconds=30))
    try:
        await asyncio.sleep(1.5)
        before = len(load.acknowledged())
        shop.inventories[0].kill()
        await asyncio.sleep(3)  # orders go on through the survivor
    finally:
        load.stop.set()
        await running

    acknowledged, failed = load.acknowledged(), load.failed()
    print(
        f"\ninstance kill: {before} orders before the kill, {len(acknowledged)} acknowledged,"
        f" {len(failed)} failed first ({sorted({str(o.code) for o in failed})})"
    )
    assert len(acknowledged) > before, "no order went through the surviving instance"
    assert {outcome.code for outcome in failed} <= RETRYABLE
    unfinished = [o.request.request_id for o in load.retried if o.order is None]
    assert not unfinished, unfinished

    paid = units_paid([o.order for o in acknowledged + load.retried if o.order is not None])
    for product in products:
        level = await stock_levels(shop.redis, product)
        assert level["added"] == STOCK
        assert level["quantity"] + level["reserved"] + level["sold"] == STOCK, level
        assert level["reserved"] == 0, level  # every order is PAID: no hold outlives its order
        assert level["sold"] == paid[product], (product, level, paid[product])

"""Inventory while Redis hangs: calls are refused at once, and served again when it answers."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estore.common.auth import TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.embedded.redis import EmbeddedRedis
from estore.inventory.app import create_service
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc
from tests.grpc.inventory.conftest import Callers, expect_error, usd
from tests.helpers import eventually

SERVICE = "estore.inventory.v1.InventoryService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def own_redis(scratch_dir: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, which it may freeze."""
    server = EmbeddedRedis(scratch_dir / f"hung-{uuid.uuid4().hex[:8]}")
    server.start()
    yield server
    if server.pid is not None:
        os.kill(server.pid, signal.SIGCONT)
    server.stop()


async def test_a_hung_redis_is_answered_at_once_then_served_again(
    own_redis: EmbeddedRedis,
    token_verifier: TokenVerifier,
    callers: Callers,
    feed_env: dict[str, str],
) -> None:
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": own_redis.url(), **feed_env})
    server = GrpcServer(
        await create_service(settings), token_verifier, probe_interval=0.05, probe_timeout=0.5
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inventory_grpc.InventoryServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)

            async def status() -> int:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
                return int(reply.status)

            product = pb.Product(name="Kettle", price=usd(2500), quantity=3)
            created = await stub.CreateProduct(
                pb.CreateProductRequest(product=product), metadata=callers.admin
            )
            get = pb.GetProductRequest(product_id=created.product.id)
            await stub.GetProduct(get)

            assert own_redis.pid is not None
            os.kill(own_redis.pid, signal.SIGSTOP)  # accepts connections, answers nothing
            await eventually(lambda: _is(status(), NOT_SERVING))
            for _ in range(5):
                # Without the breaker each would wait for the 5 s socket timeout.
                started = time.perf_counter()
                await expect_error(
                    stub.GetProduct(get), grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE"
                )
                assert time.perf_counter() - started < 0.1

            os.kill(own_redis.pid, signal.SIGCONT)
            await eventually(lambda: _is(status(), SERVING))
            assert (await stub.GetProduct(get)).product.quantity == 3
    finally:
        await server.stop(grace=0)


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected

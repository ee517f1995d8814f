"""While the store is down, calls are refused at once; a busy pool, a downstream outage or a
lost race is not a store down; health and reflection keep answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import grpc
import psycopg.errors
import pytest
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from estore.common import errors
from estore.common.redis import PoolExhausted
from estore.common.server import GrpcServer, ServiceDefinition
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.helpers import error_details, eventually

SERVICE = "estore.users.v1.UserService"
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING


class Store:
    """A store the test takes down and brings back, and the servicer that uses it."""

    def __init__(self) -> None:
        self.up = True
        self.probe_seconds = 0.0
        self.error: Exception | None = None
        self.calls = 0

    async def probe(self) -> bool:
        await asyncio.sleep(self.probe_seconds)
        return self.up

    async def GetCurrentUser(self, request: Any, ctx: Any) -> users_pb.GetCurrentUserResponse:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return users_pb.GetCurrentUserResponse(user=users_pb.User(id=1))


@pytest.fixture
async def served(token_verifier):
    store = Store()
    servicer = type("Servicer", (users_grpc.UserServiceServicer,), {})()
    servicer.GetCurrentUser = store.GetCurrentUser
    definition = ServiceDefinition(
        name="users",
        full_name=SERVICE,
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(servicer, server),
        probe=store.probe,
    )
    # Health would look only once a minute: whatever changes sooner is the breaker's doing.
    server = GrpcServer(definition, token_verifier, probe_interval=60)
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield store, users_grpc.UserServiceStub(channel), channel
    await server.stop(grace=0)


async def _code(stub) -> tuple[grpc.StatusCode, str, float]:
    started = time.perf_counter()
    try:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    except grpc.aio.AioRpcError as error:
        details = error_details(error)
        return details.code, details.reason, time.perf_counter() - started
    return grpc.StatusCode.OK, "", time.perf_counter() - started


async def _health(channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE)
    )
    return int(reply.status)


async def test_a_store_failure_refuses_calls_at_once_until_the_store_answers(served) -> None:
    store, stub, channel = served
    store.up = False
    store.error = redis.exceptions.ConnectionError("connection refused")
    code, reason, _ = await _code(stub)
    assert (code, reason, store.calls) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE", 1)
    # The failure woke the probe: health says so without waiting for the next round.
    await eventually(lambda: _is(_health(channel), NOT_SERVING), within=10)
    for _ in range(5):
        code, reason, seconds = await _code(stub)
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
        assert seconds < 0.1, seconds
    assert store.calls == 1  # refused without reaching the servicer (or the store)
    reflection = await _list_services(channel)
    assert SERVICE in reflection

    store.up, store.error = True, None
    await eventually(lambda: _is(_health(channel), SERVING), within=10)
    assert (await _code(stub))[0] == grpc.StatusCode.OK


@pytest.mark.parametrize(
    "error",
    [
        PoolExhausted("no Redis connection became free in time"),
        errors.Unavailable("inventory is unavailable", reason="INVENTORY_UNAVAILABLE"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
    ],
    ids=["busy-pool", "downstream-down", "deadlock"],
)
async def test_a_busy_pool_or_an_outage_elsewhere_is_not_a_store_down(served, error) -> None:
    store, stub, _ = served
    # Were the breaker opened, calls would be refused until a probe closed it: a slow one.
    store.probe_seconds = 5.0
    store.error = error
    assert (await _code(stub))[0] == grpc.StatusCode.UNAVAILABLE
    store.error = None
    assert (await _code(stub))[0] == grpc.StatusCode.OK
    assert store.calls == 2


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _list_services(channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    call = stub.ServerReflectionInfo(iter([request]))
    reply = await call.read()
    call.cancel()
    return {s.name for s in reply.list_services_response.service}

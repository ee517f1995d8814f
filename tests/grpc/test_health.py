"""Health follows the service's dependency probe, and goes NOT_SERVING on shutdown."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estore.common.server import GrpcServer, ServiceDefinition
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.helpers import running_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "estore.users.v1.UserService"


class FlakyStore:
    """A dependency the test can take down and bring back."""

    def __init__(self) -> None:
        self.up = True

    async def probe(self) -> bool:
        if not self.up:
            raise ConnectionError("store down")
        return True


def _definition(store: FlakyStore) -> ServiceDefinition:
    return ServiceDefinition(
        name="users",
        full_name=SERVICE,
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(
            users_grpc.UserServiceServicer(), server
        ),
        probe=store.probe,
    )


async def _next_status(stream: grpc.aio.UnaryStreamCall) -> int:
    reply = await asyncio.wait_for(stream.read(), timeout=10)
    assert reply is not grpc.aio.EOF
    return int(reply.status)


async def test_watch_follows_the_probe_and_shutdown(token_verifier) -> None:
    store = FlakyStore()
    async with running_server(_definition(store), token_verifier) as (server, channel):
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        ).status == SERVING
        stream = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
        assert await _next_status(stream) == SERVING

        store.up = False
        assert await _next_status(stream) == NOT_SERVING
        overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert overall.status == NOT_SERVING

        store.up = True
        assert await _next_status(stream) == SERVING

        stopping = asyncio.create_task(server.stop(grace=2))
        assert await _next_status(stream) == NOT_SERVING
        stream.cancel()
        await stopping


async def test_a_hanging_probe_counts_as_down(token_verifier) -> None:
    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True

    definition = _definition(FlakyStore())
    definition.probe = hangs
    server = GrpcServer(definition, token_verifier, probe_interval=0.05, probe_timeout=0.1)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE)
            )
            assert reply.status == NOT_SERVING
    finally:
        await server.stop(grace=0)

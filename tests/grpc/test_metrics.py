"""Each server exposes Prometheus metrics: RPC counts by method and code, latency, gauges."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from estore.common import errors
from estore.common.auth import TokenVerifier
from estore.common.metrics import Sample
from estore.common.server import GrpcServer
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.grpc.test_errors import RaisingServicer, _definition

METHOD = "/estore.users.v1.UserService/GetCurrentUser"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_rpc_counts_latency_and_gauges_are_scraped(token_verifier: TokenVerifier) -> None:
    servicer = RaisingServicer()
    definition = _definition(servicer)

    async def sampler() -> list[Sample]:
        return [Sample("estore_orders", "orders by status", 3, {"status": "PAID"})]

    definition.sampler = sampler
    server = GrpcServer(definition, token_verifier, metrics_port=0, probe_interval=0.05)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = users_grpc.UserServiceStub(channel)
            servicer.error = errors.NotFound("nobody")
            for _ in range(3):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
            servicer.error = errors.Unavailable("down")
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
        metrics = await asyncio.to_thread(scrape, server.metrics_port)
    finally:
        await server.stop(grace=0)
    labels = (("code", "NOT_FOUND"), ("method", METHOD), ("service", "users"))
    assert metrics[("estore_rpc_requests_total", labels)] == 3
    unavailable = (("code", "UNAVAILABLE"), ("method", METHOD), ("service", "users"))
    assert metrics[("estore_rpc_requests_total", unavailable)] == 1
    count = (("method", METHOD), ("service", "users"))
    assert metrics[("estore_rpc_duration_seconds_count", count)] == 4
    assert metrics[("estore_orders", (("service", "users"), ("status", "PAID")))] == 3

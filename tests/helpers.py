"""Helpers for gRPC tests: running servers on port 0 and reading rich error details."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis as redis_sync
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from estore.common.auth import TokenVerifier
from estore.common.server import GrpcServer, ServiceDefinition


@asynccontextmanager
async def running_server(
    definition: ServiceDefinition,
    verifier: TokenVerifier,
    *,
    probe_interval: float = 0.05,
    grace: float = 0.5,
) -> AsyncIterator[tuple[GrpcServer, grpc.aio.Channel]]:
    """A real server on 127.0.0.1:0 and a channel to it; both closed afterwards."""
    server = GrpcServer(definition, verifier, probe_interval=probe_interval, grace=grace)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, channel
    finally:
        await channel.close()
        await server.stop(grace=0)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying `token`."""
    return (("authorization", f"Bearer {token}"),)


@dataclass
class ErrorDetails:
    """The google.rpc details of a failed call."""

    code: grpc.StatusCode
    message: str
    infos: list[error_details_pb2.ErrorInfo]
    bad_requests: list[error_details_pb2.BadRequest]
    retry_infos: list[error_details_pb2.RetryInfo]

    @property
    def reason(self) -> str:
        assert len(self.infos) == 1, f"expected exactly one ErrorInfo, got {self.infos}"
        return str(self.infos[0].reason)

    @property
    def violated_fields(self) -> set[str]:
        return {v.field for br in self.bad_requests for v in br.field_violations}


def error_details(error: grpc.aio.AioRpcError) -> ErrorDetails:
    """Unpack the google.rpc.Status a server sent with a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status on {error.code()}: {error.details()}"
    found = ErrorDetails(error.code(), status.message, [], [], [])
    for detail in status.details:
        for cls, bucket in (
            (error_details_pb2.ErrorInfo, found.infos),
            (error_details_pb2.BadRequest, found.bad_requests),
            (error_details_pb2.RetryInfo, found.retry_infos),
        ):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                bucket.append(message)
    return found


async def refused_within(
    call: Callable[[], Awaitable[Any]],
    code: grpc.StatusCode,
    reason: str,
    seconds: float = 5.0,
) -> float:
    """Repeat `call` until it fails with `code` and ErrorInfo `reason`; how long that took.

    Fails if it still succeeds after `seconds`, or if it fails in any other way.
    """
    started = time.monotonic()
    while True:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            details = error_details(error)
            assert (details.code, details.reason) == (code, reason), details.message
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"still accepted after {elapsed:.1f} s"
        await asyncio.sleep(0.05)


# Folders whose conftest calls on_both_redis_kinds run each test that takes redis_url twice:
# on the single Redis and on the cluster (a test marked single_redis only on the first).
REDIS_KINDS = ("redis", "cluster")


def on_both_redis_kinds(metafunc: pytest.Metafunc) -> None:
    """pytest_generate_tests for such a folder."""
    if "redis_url" in metafunc.fixturenames:
        kinds = REDIS_KINDS[:1] if metafunc.definition.get_closest_marker("single_redis") else None
        metafunc.parametrize("redis_kind", kinds or REDIS_KINDS, indirect=True)


# What a spread test and its client send besides the service's own commands (COMMAND GETKEYS is
# redis-py asking where the keys are of a command it has no table for).
NOT_THE_SERVICES = ("cmdstat_info", "cmdstat_cluster", "cmdstat_config", "cmdstat_scan",
                    "cmdstat_command", "cmdstat_ping", "cmdstat_hello", "cmdstat_client",
                    "cmdstat_flushall", "cmdstat_dbsize", "cmdstat_script")  # fmt: skip


def spread(masters: Sequence[redis_sync.Redis], match: str) -> tuple[list[int], list[int]]:
    """Per master: how many keys match `match`, and how many commands it ran since its stats
    were reset, less NOT_THE_SERVICES."""
    keys = [sum(1 for _ in master.scan_iter(match=match, count=1000)) for master in masters]
    commands = [
        sum(stat["calls"] for name, stat in master.info("commandstats").items()
            if name.split("|")[0] not in NOT_THE_SERVICES)
        for master in masters
    ]  # fmt: skip
    return keys, commands


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 20.0, every: float = 0.02
) -> None:
    """Wait until `check()` is true; fail the test if it is not within `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(every)

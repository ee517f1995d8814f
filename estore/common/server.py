"""Server bootstrap shared by the three services: grpc.aio, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from estore.common.auth import TokenVerifier
from estore.common.breaker import StoreBreaker
from estore.common.interceptor import Registrar, ServerInterceptor
from estore.common.listen import PortInUse
from estore.common.metrics import Metrics, Sampler
from estore.common.reflection import enable_reflection
from estore.common.revocations import RevocationList
from estore.common.tasks import stop_task

log = logging.getLogger("estore.server")

Probe = Callable[[], Awaitable[bool]]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# While the store is down, health looks again at least this often, so calls resume soon after.
DOWN_PROBE_INTERVAL_SECONDS = 0.5
DEFAULT_MAX_CONCURRENT_RPCS = 1000
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024


async def always_healthy() -> bool:
    """A probe for a service without dependencies."""
    return True


@dataclass
class ServiceDefinition:
    """What a service brings to the shared bootstrap."""

    name: str  # short name: users, inventory, payments; errors carry domain `estore.<name>`
    full_name: str  # the proto service, e.g. estore.users.v1.UserService
    register: Callable[[grpc.aio.Server], None]
    probe: Probe = always_healthy
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)
    sampler: Sampler | None = None  # gauges read from the store, refreshed with each probe
    # Calls in progress at once (open streams included); grpc refuses more: RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS
    # The largest request message taken; grpc refuses a larger one: RESOURCE_EXHAUSTED.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # What this service knows of revoked tokens; None trusts every well-signed token's claims.
    revocations: RevocationList | None = None


class GrpcServer:
    """One gRPC server for one service, with health tracking its dependency probe."""

    def __init__(
        self,
        definition: ServiceDefinition,
        verifier: TokenVerifier,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        probe_interval: float = 2.0,
        probe_timeout: float = 2.0,
        grace: float = 10.0,
        metrics_port: int | None = None,
        credentials: grpc.ServerCredentials | None = None,
        share_port: bool = False,
    ) -> None:
        self.definition = definition
        self.metrics = Metrics(definition.name)
        self._metrics_port = metrics_port
        self._host = host
        self._credentials = credentials
        self._address = f"{host}:{port}"
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._grace = grace
        self.health = health.aio.HealthServicer()
        if definition.revocations is not None:
            verifier = verifier.with_revocations(definition.revocations)
        self.breaker = StoreBreaker(definition.name)
        self._interceptor = ServerInterceptor(definition.name, verifier, self.metrics, self.breaker)
        self._server = grpc.aio.server(
            options=(
                # Only `estore serve --workers` shares a port; otherwise the kernel refuses a
                # second process there, rather than splitting calls between the two.
                ("grpc.so_reuseport", 1 if share_port else 0),
                ("grpc.max_receive_message_length", definition.max_message_bytes),
            ),
            maximum_concurrent_rpcs=definition.max_concurrent_rpcs,
        )
        self._probe_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.port = 0
        self.metrics_port = 0

    async def start(self) -> int:
        """Bind, start serving, and start probing; returns the bound port (once started, no-op)."""
        if self.port:
            return self.port
        definition = self.definition
        definition.register(Registrar(self._server, self._interceptor))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        enable_reflection(self._server, [definition.full_name, health.SERVICE_NAME])
        try:
            if self._credentials is not None:
                self.port = self._server.add_secure_port(self._address, self._credentials)
            else:
                self.port = self._server.add_insecure_port(self._address)
        except RuntimeError as error:  # grpc's "Failed to bind"
            host, _, port = self._address.rpartition(":")
            raise PortInUse(host, int(port)) from error
        if self.port == 0:
            raise OSError(f"cannot listen on {self._address}")
        await self._set_health(await self._probe_once())
        await self.refresh_samples()
        if self._metrics_port is not None:
            self.metrics_port = self.metrics.serve(self._host, self._metrics_port)
        await self._server.start()
        self._probe_task = asyncio.create_task(self._probe_loop(), name=f"probe-{definition.name}")
        log.info(
            "serving",
            extra={
                "service": definition.name,
                "service_name": definition.full_name,
                "port": self.port,
                "metrics_port": self.metrics_port,
            },
        )
        return self.port

    async def _probe_once(self) -> bool:
        try:
            return await asyncio.wait_for(self.definition.probe(), self._probe_timeout)
        except Exception:
            return False

    async def refresh_samples(self) -> None:
        """Read the gauges from the store now (the probe loop does this on its own)."""
        if self.definition.sampler is None:
            return
        try:
            samples = await asyncio.wait_for(self.definition.sampler(), self._probe_timeout)
        except Exception:  # stale gauges are better than a failed probe loop
            log.debug("sampling failed", exc_info=True)
            return
        self.metrics.set_samples(samples)

    async def _set_health(self, healthy: bool) -> None:
        self.breaker.record_probe(healthy)
        if self._stopping:
            return
        status = SERVING if healthy else NOT_SERVING
        for name in ("", self.definition.full_name):
            await self.health.set(name, status)

    async def _probe_loop(self) -> None:
        healthy: bool | None = None
        while not self._stopping:
            interval = self._probe_interval
            if self.breaker.is_open:
                interval = min(interval, DOWN_PROBE_INTERVAL_SECONDS)
            await self.breaker.next_probe(interval)
            now = await self._probe_once()
            if now != healthy:
                log.info("health changed", extra={"service": self.definition.name, "healthy": now})
                healthy = now
            await self._set_health(now)
            if now:
                await self.refresh_samples()

    async def stop(self, grace: float | None = None) -> None:
        """Health to NOT_SERVING, stop taking calls, finish in-flight ones, then close resources."""
        if self._stopping:
            return
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        if self._probe_task is not None:
            await stop_task(self._probe_task)
        await self._server.stop(self._grace if grace is None else grace)
        self.metrics.close()
        for close in self.definition.on_stop:
            await close()
        log.info("stopped", extra={"service": self.definition.name})

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


async def serve_until_signalled(
    servers: Sequence[GrpcServer], on_started: Callable[[], None] | None = None
) -> None:
    """Start the servers and run them until SIGTERM, SIGINT or SIGHUP, then shut down gracefully.

    Servers stop one by one, last started first: a server that calls another (Payments calls
    Inventory) finishes its calls in flight while the one it calls still answers. A server
    that fails to start stops the ones started before it.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    started: list[GrpcServer] = []
    try:
        for server in servers:
            await server.start()
            started.append(server)
        if on_started is not None:
            on_started()
        await stop.wait()
        log.info("shutting down")
    finally:
        for server in reversed(started or list(servers)):
            await server.stop()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)

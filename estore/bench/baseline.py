"""The baseline: a bare grpc.aio server answering grpc.health.v1.Health/Check, nothing else.

Run as `python -m estore.bench.baseline PORT`; it serves on 127.0.0.1:PORT until SIGTERM. It has
what every EStore server has at its core (grpc.aio, one servicer) and none of what they add
(interceptor, auth, logging, metrics, a store), so a scenario's ratio to it is the share of the
cost of gRPC itself that a call keeps.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
from grpc_health.v1 import health, health_pb2_grpc

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


async def serve(port: int) -> None:
    """Serve Health on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"cannot listen on 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))

"""Serving one service in this process: what `estore serve` and each child of `estore up` run."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from estore.common.config import Settings
from estore.common.listen import ensure_port_free
from estore.common.logs import configure_logging
from estore.common.runtime import grpc_server, token_verifier
from estore.common.server import serve_until_signalled
from estore.services import SERVICES

Report = Callable[[dict[str, int]], None]


async def _serve(settings: Settings, service: str, report: Report | None, share_port: bool) -> None:
    entry = SERVICES[service]
    if not share_port:  # say so before connecting to any store (the bind would refuse anyway)
        ensure_port_free(settings.host, entry.port(settings))
    definition = await entry.create(settings)
    server = grpc_server(
        definition,
        settings,
        token_verifier(settings),
        entry.port(settings),
        entry.metrics_port(settings),
        share_port=share_port,
    )

    def started() -> None:
        # What start-up made (modules, descriptors, scripts, connections) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks all of it
        # (20 to 60 ms on the event loop about every 12 s, measured in Inventory).
        gc.collect()
        gc.freeze()
        if report is not None:
            report({"port": server.port, "metrics_port": server.metrics_port})

    await serve_until_signalled([server], on_started=started)


def run_on_loop(settings: Settings, main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on the event loop ESTORE_EVENT_LOOP names (uvloop or asyncio)."""
    factory = uvloop.new_event_loop if settings.event_loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def serve_service(
    settings: Settings,
    service: str,
    log_file: Path | None = None,
    report: Report | None = None,
    *,
    share_port: bool = False,
) -> None:
    """Serve `service` until SIGTERM or SIGINT; `report` hears its bound ports once it serves.

    PortInUse if another process serves the port, unless `share_port` (a `--workers` worker).
    """
    configure_logging(service, settings.log_level, log_file=log_file)
    run_on_loop(settings, _serve(settings, service, report, share_port))

"""`estore serve NAME --workers N`: N processes serving one port (SO_REUSEPORT)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from estore.common.config import ConfigError, Settings

PORT_FIELDS = {
    "users": ("users_port", "users_metrics_port"),
    "inventory": ("inventory_port", "inventory_metrics_port"),
    "payments": ("payments_port", "payments_metrics_port"),
}


def worker_settings(settings: Settings, service: str, index: int) -> Settings:
    """Worker `index`'s settings: the same gRPC port, and a metrics port of its own."""
    port_field, metrics_field = PORT_FIELDS[service]
    if getattr(settings, port_field) == 0:
        raise ConfigError("--workers needs a fixed port: several processes share it")
    metrics_port: int = getattr(settings, metrics_field)
    changes: dict[str, Any] = {metrics_field: metrics_port + index if metrics_port else 0}
    return dataclasses.replace(settings, **changes)


def run_workers(
    settings: Settings, service: str, workers: int, serve: Callable[[Settings, str], None]
) -> int:
    """Start `workers` processes; SIGTERM/SIGINT stops them all gracefully; exit when all did."""
    configs = [worker_settings(settings, service, i) for i in range(workers)]
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=serve, args=(config, service)) for config in configs]
    for process in processes:
        process.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        print(f"estore: {len(failed)} worker(s) failed", file=sys.stderr)
    return 1 if failed else 0

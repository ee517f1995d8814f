"""`estore serve NAME --workers N`: N processes serving one port (SO_REUSEPORT), kept alive."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from estore.common.config import ConfigError, Settings
from estore.common.listen import ensure_port_free
from estore.serve import Report, serve_service
from estore.services import PORT_FIELDS, SERVICES
from estore.supervise import RestartPolicy, StartFailed, StopRequested, Supervisor


def worker_settings(settings: Settings, service: str, index: int) -> Settings:
    """Worker `index`'s settings: the same gRPC port, and a metrics port of its own."""
    port_field, metrics_field = PORT_FIELDS[service]
    if getattr(settings, port_field) == 0:
        raise ConfigError("--workers needs a fixed port: several processes share it")
    metrics_port: int = getattr(settings, metrics_field)
    changes: dict[str, Any] = {metrics_field: metrics_port + index if metrics_port else 0}
    return dataclasses.replace(settings, **changes)


def serve_worker(settings: Settings, service: str, report: Report) -> None:
    """One worker: serves the port its siblings serve too (SO_REUSEPORT)."""
    serve_service(settings, service, None, report, share_port=True)


def _say(message: str) -> None:
    print(f"estore serve: {message}", file=sys.stderr, flush=True)


def run_workers(
    settings: Settings, service: str, workers: int, policy: RestartPolicy | None = None
) -> int:
    """Serve with `workers` processes, restarting any that dies; SIGTERM/SIGINT drains them all.

    Exits 0 after a stop signal when every worker drained cleanly, and 1 when a worker keeps
    dying soon after it starts, or cannot start at all. PortInUse (a ConfigError) when another
    process serves the port already.
    """
    configs = [worker_settings(settings, service, i) for i in range(workers)]
    # The workers share the port with each other only: not with a process already there.
    ensure_port_free(settings.host, SERVICES[service].port(settings))
    specs = [
        (f"{service} worker {i}", serve_worker, (config, service))
        for i, config in enumerate(configs)
    ]
    policy = policy or RestartPolicy(stop_timeout=settings.shutdown_grace_seconds + 5)
    supervisor = Supervisor(_say, policy)
    with supervisor.running():
        try:
            supervisor.start(specs)
        except StopRequested:
            pass
        except StartFailed as failure:
            _say(str(failure))
            return 1
        supervisor.run()
        codes = supervisor.stop_all()
    if supervisor.gave_up:
        return 1
    failed = [code for code in codes if code]
    if failed:
        _say(f"{len(failed)} worker(s) did not stop cleanly")
    return 1 if failed else 0

"""The machine under the bench: which cores serve and which load, and CPU time per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Cores:
    """The cores the services (and their stores) run on, and the ones the load client uses."""

    server: tuple[int, ...]
    client: tuple[int, ...]
    pinned: bool
    note: str


def plan_cores(server_cores: int = 1) -> Cores:
    """Split the cores this process may use: `server_cores` for the suite, the rest for load."""
    available = tuple(sorted(os.sched_getaffinity(0)))
    if len(available) < 2:
        return Cores(
            available,
            available,
            pinned=False,
            note=(
                "one core: services and load client share it, so the client's cost lowers "
                "every ratio; pin nothing"
            ),
        )
    count = max(1, min(server_cores, len(available) - 1))
    server, client = available[:count], available[count:]
    return Cores(
        server,
        client,
        pinned=True,
        note=f"services and stores on cores {_list(server)}, load client on cores {_list(client)}",
    )


def _list(cores: tuple[int, ...]) -> str:
    return ",".join(str(core) for core in cores)


def pin_tree(pid: int, cores: tuple[int, ...]) -> None:
    """Pin every thread of `pid` and of its descendants to `cores` (later children inherit it)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for thread in process.threads():
                with suppress(ProcessLookupError, PermissionError):
                    os.sched_setaffinity(thread.id, cores)


def pin_self(cores: tuple[int, ...]) -> None:
    """Pin this process (an initializer of the load client's processes)."""
    if cores:
        os.sched_setaffinity(0, cores)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` and its live descendants (PostgreSQL's backends)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}

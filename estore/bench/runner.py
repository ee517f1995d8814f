"""`estore bench`: start the suite, seed a shop, measure every scenario, write the report."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from estore.bench.client import CHANNELS_PER_TARGET, warm_up
from estore.bench.measure import Bench, Result, Timing
from estore.bench.report import Report, table, write
from estore.bench.scenarios import SCENARIOS, measure_baseline
from estore.bench.seed import seed_shop
from estore.bench.stack import running_stack
from estore.bench.system import Cores, pin_self, plan_cores
from estore.common.config import ConfigError, Settings

FULL = Timing(warmup=2.0, duration=10.0, ceiling=5.0, logins=100)
QUICK = Timing(warmup=0.5, duration=2.0, ceiling=1.5, logins=10)
PRODUCTS = {False: 1000, True: 200}  # full, quick


@dataclass(frozen=True)
class Options:
    """The command line of `estore bench`."""

    quick: bool = False
    out: Path | None = None  # default: <data dir>/bench
    duration: float | None = None
    warmup: float | None = None
    scenarios: Sequence[str] = ()  # default: all
    server_cores: int = 1
    concurrency: int = 16


class Progress:
    """Progress lines on stderr, with the time since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"estore bench [{elapsed:5.1f} s] {message}", file=sys.stderr, flush=True)


def _timing(options: Options) -> Timing:
    base = QUICK if options.quick else FULL
    return Timing(
        warmup=base.warmup if options.warmup is None else options.warmup,
        duration=options.duration or base.duration,
        ceiling=min(base.ceiling, options.duration or base.ceiling),
        logins=base.logins,
    )


def _chosen(options: Options) -> list[str]:
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        raise ConfigError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return [name for name in SCENARIOS if not options.scenarios or name in options.scenarios]


def _machine(cores: Cores, client_processes: int) -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "server_cores": list(cores.server),
        "client_cores": list(cores.client),
        "pinned": cores.pinned,
        "note": cores.note,
        "client_processes": client_processes,
        "load_average_at_start": list(os.getloadavg()),
    }


def _measure_all(bench: Bench, names: list[str]) -> tuple[list[Result], list[Result]]:
    """The baseline, every chosen scenario, then the baseline again (to see drift)."""
    baselines = [measure_baseline(bench, "first")]
    results = [SCENARIOS[name].run(bench) for name in names]
    baselines.append(measure_baseline(bench, "last"))
    return baselines, results


def run_bench(settings: Settings, options: Options) -> int:
    """Run the bench; print the table; write JSON, table and PNG under the output folder."""
    say = Progress()
    timing, names = _timing(options), _chosen(options)
    started_at = datetime.now(UTC)
    cores = plan_cores(options.server_cores)
    say(f"cores: {cores.note}")
    client_processes = len(cores.client) if cores.pinned else 1
    spawn = multiprocessing.get_context("spawn")
    pin = cores.client if cores.pinned else ()
    with (
        running_stack(settings, cores, say) as stack,
        ProcessPoolExecutor(
            client_processes, mp_context=spawn, initializer=pin_self, initargs=(pin,)
        ) as clients,
    ):
        pin_self(pin)  # this process too: it only watches, but not from the server cores
        for _ in range(client_processes):
            clients.submit(warm_up).result()
        products = PRODUCTS[options.quick]
        say(f"seeding {products} products and a shopper ...")
        shop = asyncio.run(seed_shop(stack, products, options.concurrency))
        bench = Bench(
            stack, shop, cores, timing, clients, client_processes, say,
            bcrypt_rounds=settings.bcrypt_rounds, concurrency=options.concurrency,
        )  # fmt: skip
        baselines, results = _measure_all(bench, names)
    report = Report(
        started_at=started_at.isoformat(timespec="seconds"),
        wall_seconds=time.monotonic() - say.started,
        quick=options.quick,
        machine=_machine(cores, client_processes),
        settings={
            "concurrency": options.concurrency,
            "warmup_seconds": timing.warmup,
            "duration_seconds": timing.duration,
            "bcrypt_ceiling_seconds": timing.ceiling,
            "login_hashes": timing.logins,
            "products": products,
            "bcrypt_rounds": settings.bcrypt_rounds,
            "channels_per_target": CHANNELS_PER_TARGET,
            "log_level": settings.log_level,
        },
        baseline_runs=baselines,
        scenarios=results,
    )
    report.rate()
    return _publish(report, options.out or settings.data_dir / "bench", started_at, say)


def _publish(report: Report, folder: Path, started_at: datetime, say: Progress) -> int:
    from estore.bench.chart import draw  # matplotlib is slow to import: only when drawing

    stem = f"bench-{started_at:%Y%m%d-%H%M%S}"
    paths = write(report, folder, stem)
    paths["chart"] = draw(report, folder / f"{stem}.png")
    print(table(report))
    say("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0

"""One measuring window: load from the client processes, CPU and Redis commands around it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis

from estore.bench.client import Stream, Tally, run_load
from estore.bench.seed import Shop
from estore.bench.stack import FLOORS, Stack
from estore.bench.system import Cores, cpu_snapshot

START_MARGIN_SECONDS = 0.5  # for the client processes to receive their share and connect
SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
SERVER_PROCESSES = ("users", "inventory", "payments", "redis", "postgres", "baseline", *FLOORS)


@dataclass(frozen=True)
class Timing:
    """How long each part of a run lasts."""

    warmup: float  # load runs this long before the window opens
    duration: float  # the measuring window
    ceiling: float  # the bcrypt ceiling's tight loop
    # Login's window measures at least this many hashes: at about 4.5 a second, one Login more
    # or less in a 10 s window moved its ratio by 0.02 and runs by 0.05.
    logins: int = 10


@dataclass
class Measurement:
    """What one window saw: tallies by stream and label, CPU seconds, Redis commands."""

    seconds: float
    tallies: dict[str, dict[str, Tally]]
    cpu: dict[str, float]  # process name -> CPU seconds inside the window
    client_cpu: float
    redis_calls: Counter[str]  # command -> calls inside the window (script bodies included)

    def stream(self, name: str) -> Tally:
        """Every label of one stream, merged."""
        merged = Tally()
        for tally in self.tallies.get(name, {}).values():
            merged.merge(tally)
        return merged


def _commandstats(client: redis.Redis) -> Counter[str]:
    stats: dict[str, Any] = client.info("commandstats")
    calls: Counter[str] = Counter()
    for key, value in stats.items():
        command = key.removeprefix("cmdstat_")
        if command != "info":  # our own reading of these numbers
            calls[command] = int(value["calls"])
    return calls


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@dataclass
class Bench:
    """A running bench: the stack, the seeded shop, the client processes, and progress."""

    stack: Stack
    shop: Shop
    cores: Cores
    timing: Timing
    clients: ProcessPoolExecutor
    client_processes: int
    say: Callable[[str], None]
    bcrypt_rounds: int
    concurrency: int

    def measure(
        self, streams: Sequence[Stream], duration: float | None = None, warmup: float | None = None
    ) -> Measurement:
        """Run `streams` through a warm-up and one window; what the window saw."""
        seconds = duration or self.timing.duration
        warmup = self.timing.warmup if warmup is None else warmup
        start = time.monotonic() + START_MARGIN_SECONDS
        window = (start + warmup, start + warmup + seconds)
        shares = [
            self.clients.submit(run_load, tuple(streams), i, self.client_processes, start, window)
            for i in range(self.client_processes)
        ]
        with redis.Redis.from_url(self.stack.redis_url) as store:
            _sleep_until(window[0])
            cpu_before, redis_before = cpu_snapshot(self.stack.pids), _commandstats(store)
            _sleep_until(window[1])
            cpu_after, redis_after = cpu_snapshot(self.stack.pids), _commandstats(store)
        reports = [share.result() for share in shares]
        tallies: dict[str, dict[str, Tally]] = {}
        for report in reports:
            for stream, labels in report.tallies.items():
                for label, tally in labels.items():
                    tallies.setdefault(stream, {}).setdefault(label, Tally()).merge(tally)
        redis_after.subtract(redis_before)
        return Measurement(
            seconds=seconds,
            tallies=tallies,
            cpu={name: cpu_after[name] - cpu_before[name] for name in cpu_after},
            client_cpu=sum(report.cpu_seconds for report in reports),
            redis_calls=+redis_after,
        )


def percentile(latencies: Sequence[float], share: float) -> float:
    """The `share` quantile of `latencies` (nearest rank), in milliseconds; 0 when empty."""
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Result:
    """One scenario's figures, as the table, the JSON and the chart show them."""

    name: str
    title: str
    calls: int  # answered OK inside the window
    seconds: float
    throughput: float  # OK calls per second
    p50_ms: float  # of the calls answered OK
    p99_ms: float
    errors: dict[str, int]  # status code -> calls, OK excluded
    cpu_ms_per_call: dict[str, float]  # process -> CPU milliseconds per call
    client_cpu_ms_per_call: float
    server_utilisation: float  # busy share of the server cores
    client_utilisation: float  # busy share of the client cores
    redis_commands_per_call: float
    redis_scripts_per_call: float
    redis_top_commands: dict[str, float]  # the busiest commands, per call
    server_cpu_ms_per_call: float = 0.0  # all server-side processes together
    cpu_ratio: float | None = None  # the baseline's server CPU per call over this one's
    target: float | None = None  # the target for `ratio`
    ratio: float | None = None  # throughput / baseline (Login: / bcrypt ceiling)
    ratio_of: str = "baseline"
    by_label: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)


def summarise(
    bench: Bench, name: str, title: str, measured: Measurement, stream: str, target: float | None
) -> Result:
    """`measured` as figures per call of `stream` (other streams' calls count only as load)."""
    tally = measured.stream(stream)
    calls = len(tally.latencies)
    per_call = 1000 / calls if calls else 0.0
    server_cpu = sum(measured.cpu.get(name, 0.0) for name in SERVER_PROCESSES)
    redis_total = sum(measured.redis_calls.values())
    scripts = sum(n for command, n in measured.redis_calls.items() if command in SCRIPT_COMMANDS)
    return Result(
        name=name,
        title=title,
        calls=calls,
        seconds=measured.seconds,
        throughput=calls / measured.seconds,
        p50_ms=percentile(tally.latencies, 0.50),
        p99_ms=percentile(tally.latencies, 0.99),
        errors={code: n for code, n in tally.codes.items() if code != "OK"},
        cpu_ms_per_call={name: seconds * per_call for name, seconds in measured.cpu.items()},
        client_cpu_ms_per_call=measured.client_cpu * per_call,
        server_utilisation=server_cpu / (measured.seconds * len(bench.cores.server)),
        server_cpu_ms_per_call=server_cpu * per_call,
        client_utilisation=measured.client_cpu / (measured.seconds * len(bench.cores.client)),
        redis_commands_per_call=redis_total * per_call / 1000,
        redis_scripts_per_call=scripts * per_call / 1000,
        redis_top_commands={
            command: n * per_call / 1000 for command, n in measured.redis_calls.most_common(8)
        },
        target=target,
        by_label={
            label: {
                "calls": len(each.latencies),
                "p50_ms": percentile(each.latencies, 0.50),
                "p99_ms": percentile(each.latencies, 0.99),
                "errors": sum(n for code, n in each.codes.items() if code != "OK"),
            }
            for label, each in measured.tallies.get(stream, {}).items()
        },
    )

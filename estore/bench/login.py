"""Login against the bcrypt ceiling, and what Login load does to other calls' p99.

Login is bcrypt: its ceiling is the hashes per second the server cores manage in a tight loop
at the configured cost. While Login runs flat out, GetProduct and GetCurrentUser callers, each
one call every 50 ms, probe the latency every other caller sees; the same probes alone give "idle".
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import bcrypt

from estore.bench.client import Stream
from estore.bench.measure import Bench, Measurement, Result, Timing, percentile, summarise
from estore.bench.scenarios import current_user_call, get_product_calls, rpc
from estore.bench.system import pin_self
from generated.estore.users.v1 import user_service_pb2 as users_pb

PROBED = {"GetProduct": ("inventory", "redis"), "GetCurrentUser": ("users", "postgres")}
PROBES = tuple(PROBED)
# At bcrypt's cost a closed loop of Login takes a while to reach its pace, and completes few
# calls a second: warm up for about this many hashes, and measure at least Timing.logins.
# Each probe is an ordinary caller, one call every PROBE_PAUSE seconds: probes sent flat out
# would be a second load competing with Login for the core, not a measure of what callers see.
PROBE_PAUSE = 0.05
WARMUP_HASHES = 8


def bcrypt_rate(threads: int, rounds: int, seconds: float) -> float:
    """Hashes per second `threads` threads manage at cost `rounds` (bcrypt releases the GIL)."""
    hashed = bcrypt.hashpw(b"bench-password", bcrypt.gensalt(rounds))
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def hash_until_deadline(index: int) -> None:
        while True:
            bcrypt.checkpw(b"bench-password", hashed)
            counts[index] += 1
            if time.monotonic() >= deadline:
                return

    started = time.monotonic()
    workers = [threading.Thread(target=hash_until_deadline, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def bcrypt_ceiling(bench: Bench) -> float:
    """The server cores' bcrypt rate, measured in a process pinned to them while all idles."""
    cores = bench.cores.server
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=pin_self, initargs=(cores,)) as pool:
        rate = pool.submit(bcrypt_rate, len(cores), bench.bcrypt_rounds, bench.timing.ceiling)
        return float(rate.result())


def _probes(bench: Bench) -> list[Stream]:
    return [
        Stream("GetProduct", tuple(get_product_calls(bench)), 1, pause=PROBE_PAUSE),
        Stream("GetCurrentUser", (current_user_call(bench),), 1, pause=PROBE_PAUSE),
    ]


def _without_probes(loaded: Measurement, idle: Measurement) -> Measurement:
    """`loaded` less what its probe calls cost when they ran alone: Login's own CPU and Redis.

    Each probe reaches its own processes (PROBED), so each is scaled by how many calls that
    probe made under Login against how many it made alone.
    """
    scale = {
        probe: sum(loaded.stream(probe).codes.values())
        / max(1, sum(idle.stream(probe).codes.values()))
        for probe in PROBES
    }
    cpu = dict(loaded.cpu)
    for probe, processes in PROBED.items():
        for name in processes:
            cpu[name] = max(0.0, cpu.get(name, 0.0) - idle.cpu.get(name, 0.0) * scale[probe])
    redis_calls = Counter(loaded.redis_calls)
    share = scale["GetProduct"]  # the only probe that reaches Redis
    redis_calls.subtract({command: round(n * share) for command, n in idle.redis_calls.items()})
    client_share = sum(scale.values()) / len(scale)
    return Measurement(
        seconds=loaded.seconds,
        tallies=loaded.tallies,
        cpu=cpu,
        client_cpu=max(0.0, loaded.client_cpu - idle.client_cpu * client_share),
        redis_calls=+redis_calls,
    )


def login_window(timing: Timing, ceiling: float) -> tuple[float, float]:
    """Login's warm-up and window at `ceiling` hashes a second: long enough for its hashes."""
    warmup = max(timing.warmup, WARMUP_HASHES / ceiling)
    return warmup, max(timing.duration, timing.logins / ceiling)


def measure_login(bench: Bench, title: str, target: float) -> Result:
    """Login throughput as a share of the bcrypt ceiling, and probe p99s idle and under Login."""
    bench.say(f"{title}: bcrypt ceiling at cost {bench.bcrypt_rounds} ...")
    ceiling = bcrypt_ceiling(bench)
    bench.say(f"{title}: probes alone ...")
    idle = bench.measure(_probes(bench))
    signs_in = [
        rpc(bench, "users", "Login", users_pb.LoginRequest(email=email, password=password))
        for email, password in bench.shop.accounts
    ]
    logins = Stream("login", tuple(signs_in), bench.concurrency, per_loop=True)
    warmup, duration = login_window(bench.timing, ceiling)
    bench.say(f"{title}: Login load with the probes for {warmup + duration:.0f} s ...")
    loaded = bench.measure([logins, *_probes(bench)], duration, warmup)
    result = summarise(bench, "login", title, _without_probes(loaded, idle), "login", target)
    result.ratio = result.throughput / ceiling if ceiling else 0.0
    result.ratio_of = "bcrypt ceiling"
    result.extra = {"bcrypt_ceiling_per_second": ceiling, "bcrypt_rounds": bench.bcrypt_rounds}
    for probe in PROBES:
        before = percentile(idle.stream(probe).latencies, 0.99)
        during = percentile(loaded.stream(probe).latencies, 0.99)
        result.extra[f"{probe}_p99_idle_ms"] = before
        result.extra[f"{probe}_p99_under_login_ms"] = during
        result.extra[f"{probe}_p99_increase_ms"] = during - before
        errors = sum(n for code, n in loaded.stream(probe).codes.items() if code != "OK")
        if errors:
            result.errors[f"{probe} probe"] = errors
    return result

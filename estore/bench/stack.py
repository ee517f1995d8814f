"""What the bench measures: throwaway stores, one `estore serve` process per service, and a
bare grpc.aio health server as the baseline, all pinned to the server cores."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estore.bench.system import Cores, pin_tree
from estore.common.auth import TokenIssuer, ensure_dev_keys, load_private_key
from estore.common.config import Settings
from estore.embedded.ports import free_port
from estore.embedded.postgres import EmbeddedPostgres
from estore.embedded.redis import EmbeddedRedis

SERVICES = ("users", "inventory", "payments")
# The floors (estore.bench.floors) and the bare backend the two-hop floor calls.
FLOORS = (
    "floor_redis", "floor_postgres", "floor_two_hops", "floor_backend", "floor_order",
    "floor_order_batched",
)  # fmt: skip
DATABASE = "estore_users"
FLOOR_DATABASE = "bench_floor"  # the PostgreSQL floor's table, apart from UserService's
ADMIN = ("admin@bench.example", "bench-admin-password")
START_TIMEOUT_SECONDS = 120.0
# Variables that would point the services at real stores, keys, mail or TLS; the bench sets its own.
NOT_INHERITED = (
    "ESTORE_DATA_DIR", "ESTORE_USERS_DATABASE_URL", "ESTORE_REDIS_URL",
    "ESTORE_INVENTORY_REDIS_URL", "ESTORE_PAYMENTS_REDIS_URL", "ESTORE_HOST",
    "ESTORE_INVENTORY_TARGET", "ESTORE_USERS_TARGET", "ESTORE_JWT_PRIVATE_KEY_FILE",
    "ESTORE_JWT_PUBLIC_KEY_FILE",
    "ESTORE_SERVICE_TOKEN", "ESTORE_SMTP_URL", "ESTORE_MAIL_OUTBOX", "ESTORE_TLS_CERT_FILE",
    "ESTORE_TLS_KEY_FILE", "ESTORE_TLS_CA_FILE", "ESTORE_BOOTSTRAP_ADMIN_EMAIL",
    "ESTORE_BOOTSTRAP_ADMIN_PASSWORD",
)  # fmt: skip


@dataclass(frozen=True)
class Stack:
    """Where everything listens, and the process whose CPU each name stands for."""

    targets: dict[str, str]  # users, inventory, payments, baseline -> 127.0.0.1:port
    pids: dict[str, int]  # the above, plus redis and postgres
    redis_url: str
    outbox: Path
    admin: tuple[str, str]
    currency: str


def _environment(settings: Settings, root: Path, urls: tuple[str, str]) -> dict[str, str]:
    """The services' environment: the caller's tuning knobs, the bench's stores and keys."""
    keys = root / "keys"
    ensure_dev_keys(keys / "jwt_private.pem", keys / "jwt_public.pem")
    issuer = TokenIssuer(
        load_private_key(keys / "jwt_private.pem"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        ESTORE_DATA_DIR=str(root),
        ESTORE_USERS_DATABASE_URL=urls[0],
        ESTORE_REDIS_URL=urls[1],
        ESTORE_HOST="127.0.0.1",
        ESTORE_JWT_PRIVATE_KEY_FILE=str(keys / "jwt_private.pem"),
        ESTORE_JWT_PUBLIC_KEY_FILE=str(keys / "jwt_public.pem"),
        ESTORE_SERVICE_TOKEN=issuer.mint_service_token("payments", ttl_seconds=86400).token,
        ESTORE_MAIL_OUTBOX=str(root / "outbox.jsonl"),
        ESTORE_BOOTSTRAP_ADMIN_EMAIL=ADMIN[0],
        ESTORE_BOOTSTRAP_ADMIN_PASSWORD=ADMIN[1],
    )
    for service in SERVICES:
        env[f"ESTORE_{service.upper()}_METRICS_PORT"] = "0"
    return env


@dataclass(frozen=True)
class Stores:
    """The throwaway stores: where they listen and their processes."""

    database_url: str
    floor_database_url: str
    redis_url: str
    postgres_pid: int
    redis_pid: int


def _start_stores(root: Path, stack: ExitStack) -> Stores:
    postgres = EmbeddedPostgres(root / "postgres", durable=False)
    postgres.start()
    stack.callback(postgres.stop)
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        for database in (DATABASE, FLOOR_DATABASE):
            connection.execute(f'CREATE DATABASE "{database}"')
    redis = EmbeddedRedis(root / "redis")  # no persistence: a throwaway store
    redis.start()
    stack.callback(redis.stop)
    postgres_pid, redis_pid = postgres.pid, redis.pid
    assert postgres_pid is not None
    assert redis_pid is not None
    return Stores(
        postgres.url(DATABASE), postgres.url(FLOOR_DATABASE), redis.url(), postgres_pid, redis_pid
    )


def _spawn(command: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> int:
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=log.open("wb"), start_new_session=True,
    )  # fmt: skip

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process.pid


def _await_serving(name: str, target: str, pid: int, log: Path) -> None:
    """Block until `target` answers a health check SERVING; raise with its log if it died."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if not _alive(pid) or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start serving on {target}:\n{tail}")
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return finished == 0


def _floor_commands(
    settings: Settings, stores: Stores, ports: dict[str, int]
) -> dict[str, list[str]]:
    """The floor servers' command lines (on the services' event loop), and the bare backend's."""
    loop = ["--asyncio"] if settings.event_loop == "asyncio" else []
    floor = [sys.executable, "-m", "estore.bench.floors"]
    backend = f"127.0.0.1:{ports['floor_backend']}"
    redis_floor = f"127.0.0.1:{ports['floor_redis']}"  # the order floors' Inventory
    return {
        "floor_redis": [*floor, "redis", str(ports["floor_redis"]), stores.redis_url, *loop],
        "floor_postgres": [
            *floor, "postgres", str(ports["floor_postgres"]), stores.floor_database_url, *loop,
        ],
        "floor_two_hops": [*floor, "two_hops", str(ports["floor_two_hops"]), backend, *loop],
        "floor_backend": [*floor, "bare", str(ports["floor_backend"]), "-", *loop],
        "floor_order": [
            *floor, "order", str(ports["floor_order"]), stores.redis_url, redis_floor, *loop,
        ],
        "floor_order_batched": [
            *floor, "order_batched", str(ports["floor_order_batched"]), stores.redis_url,
            redis_floor, *loop,
        ],
    }  # fmt: skip


@contextmanager
def running_stack(settings: Settings, cores: Cores, say: Callable[[str], None]) -> Iterator[Stack]:
    """Stores, services and the baseline server, pinned to the server cores; all gone after."""
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="estore-bench-"))
        root.chmod(0o755)  # the embedded PostgreSQL runs as an unprivileged user under root
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        (root / "logs").mkdir()
        say("starting PostgreSQL and Redis ...")
        stores = _start_stores(root, stack)
        env = _environment(settings, root, (stores.database_url, stores.redis_url))
        ports = {name: free_port() for name in (*SERVICES, "baseline", *FLOORS)}
        for name in SERVICES:
            env[f"ESTORE_{name.upper()}_PORT"] = str(ports[name])
        env["ESTORE_INVENTORY_TARGET"] = f"127.0.0.1:{ports['inventory']}"
        env["ESTORE_USERS_TARGET"] = f"127.0.0.1:{ports['users']}"  # the revocation feed
        targets = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        commands = {name: [sys.executable, "-m", "estore", "serve", name] for name in SERVICES} | {
            "baseline": [sys.executable, "-m", "estore.bench.baseline", str(ports["baseline"])]
        }
        commands |= _floor_commands(settings, stores, ports)
        say("starting the services, the baseline server and the floors ...")
        logs = {name: root / "logs" / f"{name}.log" for name in commands}
        pids = {name: _spawn(commands[name], env, logs[name], stack) for name in commands}
        for name in commands:  # each finds the others' ports in its settings: all start at once
            _await_serving(name, targets[name], pids[name], logs[name])
        pids |= {"redis": stores.redis_pid, "postgres": stores.postgres_pid}
        if cores.pinned:
            for pid in pids.values():
                pin_tree(pid, cores.server)
        yield Stack(
            targets=targets,
            pids=pids,
            redis_url=stores.redis_url,
            outbox=root / "outbox.jsonl",
            admin=ADMIN,
            currency=settings.currency,
        )

"""`estore up`: throwaway PostgreSQL and Redis under the data dir, then the three services."""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import shutil
import signal
import sys
from contextlib import ExitStack, suppress
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from estore.common.auth import TokenIssuer, ensure_dev_keys, load_private_key
from estore.common.config import Settings
from estore.common.logs import configure_logging
from estore.demo import admin_credentials
from estore.embedded.postgres import EmbeddedPostgres
from estore.embedded.redis import EmbeddedRedis
from estore.serve import serve_service
from estore.services import PORT_FIELDS
from estore.stack import published_stack
from estore.supervise import Child, RestartPolicy, StartFailed, StopRequested, Supervisor

log = logging.getLogger("estore.up")
REDIS_CONF = Path(__file__).parent / "embedded" / "redis.conf"
USERS_DATABASE = "estore_users"


def _say(message: str) -> None:
    print(f"estore up: {message}", file=sys.stderr, flush=True)


def _say_and_log(message: str) -> None:
    """What happens to a service process: on the terminal, and in the log file."""
    _say(message)
    log.warning(message)


def _hold_lock(data_dir: Path, stack: ExitStack) -> bool:
    lock = stack.enter_context((data_dir / "up.lock").open("a+"))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        _say(f"another `estore up` is already running here (pid {lock.read().strip() or '?'})")
        return False
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return True


def _start_postgres(data_dir: Path, stack: ExitStack) -> str:
    _say("starting PostgreSQL ...")
    postgres = EmbeddedPostgres(data_dir / "postgres")
    stack.callback(postgres.stop)  # before start: a start that fails midway is undone too
    postgres.start()  # returns once it answers queries, not merely once it accepts TCP
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (USERS_DATABASE,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{USERS_DATABASE}"')
    _say(f"PostgreSQL on 127.0.0.1:{postgres.port}")
    return postgres.url(USERS_DATABASE)


def _start_redis(data_dir: Path, stack: ExitStack) -> str:
    _say("starting Redis ...")
    redis = EmbeddedRedis(data_dir / "redis", config_file=REDIS_CONF)
    redis.start()
    stack.callback(redis.stop)
    _say(f"Redis on 127.0.0.1:{redis.port}")
    return redis.url()


def _prepare(settings: Settings, stack: ExitStack) -> Settings:
    data_dir = settings.data_dir
    database_url = settings.users_database_url or _start_postgres(data_dir, stack)
    if settings.inventory_redis_url and settings.payments_redis_url:
        inventory_redis, payments_redis = settings.inventory_redis_url, settings.payments_redis_url
    else:
        embedded = _start_redis(data_dir, stack)
        inventory_redis = settings.inventory_redis_url or embedded
        payments_redis = settings.payments_redis_url or embedded
    ensure_dev_keys(settings.jwt_private_key_file, settings.jwt_public_key_file)
    service_token = settings.service_token
    if not service_token:
        issuer = TokenIssuer(
            load_private_key(settings.jwt_private_key_file),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        service_token = issuer.mint_service_token("payments", ttl_seconds=30 * 86400).token
    admin_email, admin_password = admin_credentials(settings)
    return dataclasses.replace(
        settings,
        users_database_url=database_url,
        inventory_redis_url=inventory_redis,
        payments_redis_url=payments_redis,
        service_token=service_token,
        bootstrap_admin_email=admin_email,
        bootstrap_admin_password=admin_password,
    )


def _with_ports(settings: Settings, service: str, ready: dict[str, int]) -> Settings:
    """`settings` with `service` on the ports it bound, so that a restart binds them again."""
    port_field, metrics_field = PORT_FIELDS[service]
    changes: dict[str, Any] = {port_field: ready["port"]}
    if getattr(settings, metrics_field):
        changes[metrics_field] = ready["metrics_port"]
    return dataclasses.replace(settings, **changes)


def _start_services(supervisor: Supervisor, settings: Settings, log_file: Path) -> list[Child]:
    """Users, then Inventory, then Payments, each told where the ones before really listen."""
    children: list[Child] = []
    for name in ("users", "inventory", "payments"):
        children += supervisor.start([(name, serve_service, (settings, name, log_file))])
        settings = _where_it_listens(settings, name, children[-1].ready["port"])
    for child in children:
        child.args = (_with_ports(settings, child.name, child.ready), child.name, log_file)
    return children


def _announce(settings: Settings, children: list[Child]) -> None:
    for child in children:
        _say(
            f"{child.name:<9} on localhost:{child.ready['port']}"
            f"  (metrics: http://localhost:{child.ready['metrics_port']}/metrics; pid {child.pid})"
        )
    _say(f"admin: {settings.bootstrap_admin_email} / {settings.bootstrap_admin_password}")
    _say(f"logs: {settings.data_dir / 'logs' / 'estore.log'}; mail: {settings.mail_outbox}")
    users, inventory = children[0].ready["port"], children[1].ready["port"]
    print(
        "\ntry:\n"
        f"  grpcurl -plaintext localhost:{inventory} list\n"
        f"  grpcurl -plaintext localhost:{users} grpc.health.v1.Health/Check\n"
        f'  grpcurl -plaintext -d \'{{"email": "ana@example.com", '
        f'"password": "correct horse"}}\' localhost:{users} '
        "estore.users.v1.UserService/Register\n"
        "  estore seed-demo     # a demo catalogue and a verified demo user\n",
        file=sys.stderr,
    )
    _say("ready; press Ctrl-C to stop")


def _serve_all(settings: Settings, log_file: Path) -> int:
    """Each service in a process of its own, restarted when it dies, until a stop signal."""
    # Stopped last started first: Payments finishes its calls to Inventory while it answers.
    policy = RestartPolicy(stop_timeout=settings.shutdown_grace_seconds + 5)
    supervisor = Supervisor(_say_and_log, policy, stop_in_reverse=True)
    with supervisor.running():
        try:
            children = _start_services(supervisor, settings, log_file)
        except StopRequested:
            return 0
        except StartFailed as failure:
            _say(f"{failure}; see {log_file}")
            return 1
        _announce(settings, children)
        supervisor.run()
    return 1 if supervisor.gave_up else 0


def _where_it_listens(settings: Settings, name: str, port: int) -> Settings:
    """Point the default target of service `name` (`localhost:<its setting>`) at its real port."""
    fields = {
        "users": ("users_target", "users_port"),
        "inventory": ("inventory_target", "inventory_port"),
    }
    if name not in fields:
        return settings
    target, configured = fields[name]
    if getattr(settings, target) != f"localhost:{getattr(settings, configured)}":
        return settings  # set by the operator: leave it
    changes: dict[str, Any] = {target: f"localhost:{port}"}
    return dataclasses.replace(settings, **changes)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_up(settings: Settings, *, fresh: bool = False) -> int:
    """Bring everything up in the foreground; stop all of it on Ctrl-C, SIGTERM or SIGHUP."""
    # Until the servers take over the signals, any of them unwinds what has started so far.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if "ESTORE_HOST" not in os.environ:  # a dev stack with a known admin password stays local
        settings = dataclasses.replace(settings, host="127.0.0.1")
    log_file = settings.data_dir / "logs" / "estore.log"
    configure_logging("estore", settings.log_level, log_file=log_file)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    # Ctrl-C (or a signal above) at any point unwinds the stack: the service processes, then
    # Redis, then PostgreSQL stop, and nothing is left behind.
    code = 0
    with suppress(KeyboardInterrupt), ExitStack() as stack:
        if not _hold_lock(data_dir, stack):
            return 1
        if fresh:
            for folder in ("postgres", "redis"):
                shutil.rmtree(data_dir / folder, ignore_errors=True)
        ready = _prepare(settings, stack)
        stack.enter_context(published_stack(ready))  # how other commands find these stores
        code = _serve_all(ready, log_file)
    _say("stopped")
    return code

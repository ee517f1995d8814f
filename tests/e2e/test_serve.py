"""`estore serve` starts each service; a real grpcurl lists them by reflection and checks health."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from estore.common.auth import ensure_dev_keys
from estore.embedded.ports import free_port

BIN = Path(sys.executable).parent
SERVICES = {
    "users": "estore.users.v1.UserService",
    "inventory": "estore.inventory.v1.InventoryService",
    "payments": "estore.payments.v1.PaymentService",
}


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        if grpcurl(f"127.0.0.1:{port}", "grpc.health.v1.Health/Check").returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"nothing serving on {port}")


@pytest.fixture
def served(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[dict[str, int]]:
    ensure_dev_keys(tmp_path / "keys/jwt_private.pem", tmp_path / "keys/jwt_public.pem")
    env = {
        **os.environ,
        "ESTORE_DATA_DIR": str(tmp_path),
        "ESTORE_USERS_DATABASE_URL": database_url,
        "ESTORE_REDIS_URL": redis_url,
        "ESTORE_HOST": "127.0.0.1",
        "ESTORE_USERS_METRICS_PORT": "0",
        "ESTORE_INVENTORY_METRICS_PORT": "0",
        "ESTORE_PAYMENTS_METRICS_PORT": "0",
    }
    ports = {name: free_port() for name in SERVICES}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, port in ports.items():
        env[f"ESTORE_{name.upper()}_PORT"] = str(port)
        processes[name] = subprocess.Popen(
            [str(BIN / "estore"), "serve", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{name}.log").open("wb"),
        )
    try:
        for name, port in ports.items():
            _wait_until_serving(port, processes[name])
        yield ports
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            assert process.wait(timeout=30) == 0, (tmp_path / f"{name}.log").read_text()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_grpcurl_lists_each_service_and_checks_health(served: dict[str, int]) -> None:
    for name, port in served.items():
        listing = grpcurl(f"127.0.0.1:{port}", "list")
        assert listing.returncode == 0, listing.stderr
        names = set(listing.stdout.split())
        assert SERVICES[name] in names
        assert "grpc.health.v1.Health" in names
        assert {
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= names

        described = grpcurl(f"127.0.0.1:{port}", "describe", SERVICES[name])
        assert described.returncode == 0, described.stderr
        assert f"service {SERVICES[name].rsplit('.', 1)[1]}" in described.stdout

        check = grpcurl(
            "-d", json.dumps({"service": SERVICES[name]}),
            f"127.0.0.1:{port}", "grpc.health.v1.Health/Check",
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert json.loads(check.stdout) == {"status": "SERVING"}


def test_a_call_without_a_token_is_unauthenticated_with_error_info(
    served: dict[str, int],
) -> None:
    reply = grpcurl(
        "-d", "{}", f"127.0.0.1:{served['payments']}",
        "estore.payments.v1.PaymentService/ListOrders",
    )  # fmt: skip
    assert reply.returncode != 0
    assert "Unauthenticated" in reply.stderr, reply.stderr
    assert "AUTH_TOKEN_MISSING" in reply.stderr, reply.stderr


def _inventory_env(tmp_path: Path, redis_url: str) -> tuple[dict[str, str], int]:
    """The environment of an `estore serve inventory` on a free port, and that port."""
    ensure_dev_keys(tmp_path / "keys/jwt_private.pem", tmp_path / "keys/jwt_public.pem")
    port = free_port()
    env = {
        **os.environ,
        "ESTORE_DATA_DIR": str(tmp_path),
        "ESTORE_REDIS_URL": redis_url,
        "ESTORE_HOST": "127.0.0.1",
        "ESTORE_INVENTORY_PORT": str(port),
        "ESTORE_INVENTORY_METRICS_PORT": "0",
        # No UserService here: the feed goes unread, which only suspends admin calls.
        "ESTORE_USERS_TARGET": f"127.0.0.1:{free_port()}",
    }
    return env, port


def test_workers_share_one_port_and_stop_together(tmp_path: Path, redis_url: str) -> None:
    env, port = _inventory_env(tmp_path, redis_url)
    log = tmp_path / "workers.log"
    parent = subprocess.Popen(
        [str(BIN / "estore"), "serve", "inventory", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        _wait_until_serving(port, parent)
        deadline = time.monotonic() + 30
        while (
            len(psutil.Process(parent.pid).children()) < 2
            or log.read_text().count('"message": "serving"') < 2
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        workers = psutil.Process(parent.pid).children()
        for _ in range(10):
            assert grpcurl(f"127.0.0.1:{port}", "grpc.health.v1.Health/Check").returncode == 0
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0, log.read_text()
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _workers(parent: subprocess.Popen[bytes], count: int, log: Path) -> list[psutil.Process]:
    """The parent's `count` worker processes, once each of them serves."""
    deadline = time.monotonic() + 60
    while True:
        children = [
            child
            for child in psutil.Process(parent.pid).children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        serving = log.read_text().count('"message": "serving"')
        if len(children) == count and serving >= count:
            return children
        assert parent.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_a_killed_worker_is_restarted_and_sigterm_still_exits_0(
    tmp_path: Path, redis_url: str
) -> None:
    env, port = _inventory_env(tmp_path, redis_url)
    log = tmp_path / "workers.log"
    parent = subprocess.Popen(
        [str(BIN / "estore"), "serve", "inventory", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        victim, survivor = _workers(parent, 2, log)
        victim.kill()
        victim.wait(timeout=10)
        deadline = time.monotonic() + 60
        while not re.search(r"inventory worker \d restarted \(pid \d+\)", log.read_text()):
            assert parent.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        workers = _workers(parent, 2, log)
        assert survivor in workers
        assert victim.pid not in {worker.pid for worker in workers}
        assert "exited (killed by SIGKILL); restarting" in log.read_text()
        for _ in range(10):
            assert grpcurl(f"127.0.0.1:{port}", "grpc.health.v1.Health/Check").returncode == 0

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0, log.read_text()
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["single", "workers"])
def test_a_port_another_process_serves_is_refused(
    tmp_path: Path, redis_url: str, workers: list[str]
) -> None:
    env, port = _inventory_env(tmp_path, redis_url)
    first = subprocess.Popen(
        [str(BIN / "estore"), "serve", "inventory"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "first.log").open("wb"),
    )
    try:
        _wait_until_serving(port, first)
        second = subprocess.run(
            [str(BIN / "estore"), "serve", "inventory", *workers],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert f"127.0.0.1:{port} is already served by another process" in second.stderr
        assert "--workers" in second.stderr
        assert first.poll() is None  # the first one serves on, alone
        assert grpcurl(f"127.0.0.1:{port}", "grpc.health.v1.Health/Check").returncode == 0
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)

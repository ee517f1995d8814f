"""`estore up` runs each service in a process of its own and brings back one that dies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from estore.embedded.ports import free_port

BIN = Path(sys.executable).parent


def _grpcurl(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", *args[:-1], f"localhost:{port}", args[-1]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _listening_on(port: int, processes: list[psutil.Process]) -> psutil.Process:
    for process in processes:
        for connection in process.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                return process
    raise AssertionError(f"no child listens on {port}")


def _wait_for(condition: str, up: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while condition not in log.read_text():
        assert up.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_a_killed_service_process_comes_back_and_answers() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="estore-up-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as an unprivileged user under root
    ports = {name: free_port() for name in ("USERS", "INVENTORY", "PAYMENTS")}
    env = {
        **os.environ,
        "ESTORE_DATA_DIR": str(data_dir / "data"),
        "ESTORE_BCRYPT_ROUNDS": "4",
        **{f"ESTORE_{name}_PORT": str(port) for name, port in ports.items()},
        **{f"ESTORE_{name}_METRICS_PORT": "0" for name in ports},
    }
    for name in ("ESTORE_USERS_DATABASE_URL", "ESTORE_REDIS_URL", "ESTORE_SERVICE_TOKEN"):
        env.pop(name, None)
    log = data_dir / "up.err"
    up = subprocess.Popen([str(BIN / "estore"), "up"], env=env, stderr=log.open("wb"))
    try:
        _wait_for("ready; press Ctrl-C to stop", up, log, timeout=90)
        children = psutil.Process(up.pid).children()
        services = {name: _listening_on(port, children) for name, port in ports.items()}
        assert len({process.pid for process in services.values()}) == 3  # one process each

        victim = services["INVENTORY"]
        victim.kill()
        _wait_for(f"inventory (pid {victim.pid}) exited (killed by SIGKILL)", up, log, 30)
        _wait_for("inventory restarted (pid", up, log, timeout=60)
        back = _listening_on(ports["INVENTORY"], psutil.Process(up.pid).children())
        assert back.pid != victim.pid
        listing = _grpcurl(
            ports["INVENTORY"], "-d", "{}", "estore.inventory.v1.InventoryService/ListProducts"
        )
        assert listing.returncode == 0, listing.stderr
        for name in ("USERS", "PAYMENTS"):  # the others served on, untouched
            assert services[name].is_running()
            assert '"SERVING"' in _grpcurl(ports[name], "grpc.health.v1.Health/Check").stdout

        everything = psutil.Process(up.pid).children(recursive=True)
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0, log.read_text()
        _, alive = psutil.wait_procs(everything, timeout=10)
        assert alive == [], f"left behind: {alive}"
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        shutil.rmtree(data_dir, ignore_errors=True)

"""`estore up` from scratch, the README walkthrough run verbatim against it, then Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from estore.embedded.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def walkthrough_script() -> str:
    """The README's walkthrough: every ```sh block between its heading and the next one."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 5
    return "\n".join(blocks)


def _serving(port: int) -> bool:
    check = subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", f"localhost:{port}", "grpc.health.v1.Health/Check"],
        capture_output=True,
        text=True,
        check=False,
    )
    return '"SERVING"' in check.stdout


@pytest.fixture
def stack() -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path]]:
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
        deadline = time.monotonic() + 90
        while not all(_serving(port) for port in ports.values()):
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        targets = {name: f"localhost:{port}" for name, port in ports.items()}
        yield up, {**env, **targets}, log
    finally:
        if up.poll() is None:  # the test failed midway: stop it as a user would, then make sure
            children = psutil.Process(up.pid).children(recursive=True)
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
            for child in psutil.wait_procs(children, timeout=10)[1]:
                child.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_readme_walkthrough_runs_verbatim_and_ctrl_c_stops_everything(stack) -> None:
    up, env, log = stack
    children = psutil.Process(up.pid).children(recursive=True)
    assert {c.name() for c in children} >= {"postgres", "redis-server"}

    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough_script()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert run.stdout.rstrip().endswith("ORDER_STATUS_REFUNDED\n20\n5"), run.stdout
    assert '"minor_units": "6064"' in run.stdout  # the order's total, fee included
    assert '"minor_units": "2520"' in run.stdout  # the teapot's refund, its fee share included

    second = subprocess.run(
        [str(BIN / "estore"), "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr

    up.send_signal(signal.SIGINT)
    assert up.wait(timeout=60) == 0, log.read_text()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left behind: {alive}"
    assert "stopped" in log.read_text()

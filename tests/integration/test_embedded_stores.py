"""The throwaway stores die with the process that started them, even one killed outright."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

STARTER = """
import sys, time
from pathlib import Path
from estore.embedded.postgres import EmbeddedPostgres
from estore.embedded.redis import EmbeddedRedis
store = {"redis": EmbeddedRedis, "postgres": EmbeddedPostgres}[sys.argv[1]](Path(sys.argv[2]))
store.start()
print(store._executor.process.pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_store_stops_when_its_parent_is_killed(kind: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="estore-orphan-"))
    folder.chmod(0o755)
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, kind, str(folder / kind)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert starter.stdout is not None
        store_pid = int(starter.stdout.readline())
        assert not _gone(store_pid)
        starter.kill()  # SIGKILL: no cleanup code runs in the parent
        starter.wait()
        deadline = time.monotonic() + 20
        while not _gone(store_pid):
            assert time.monotonic() < deadline, f"{kind} outlived its parent"
            time.sleep(0.1)
    finally:
        if starter.poll() is None:
            starter.kill()
        shutil.rmtree(folder, ignore_errors=True)

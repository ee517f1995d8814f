"""A private Redis server in a directory of its own, started from the OS binary."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from mirakuru import TCPExecutor

from estore.embedded.ports import dying_with_parent, free_port
from estore.embedded.postgres import MissingBinary


def redis_server_binary() -> str:
    """The redis-server binary on PATH."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise MissingBinary(
            "redis-server not found: install it with `sudo apt-get install redis-server` "
            "(or set ESTORE_REDIS_URL)"
        )
    return binary


class SessionExecutor(TCPExecutor):
    """mirakuru's TCPExecutor, its process put in a session of its own without a preexec_fn."""

    # mirakuru calls os.setsid through preexec_fn, which makes Python fork() the whole
    # process: once gRPC's threads run (a test starting a cluster of its own), gRPC's fork
    # handlers can abort the child before it execs. start_new_session does the same in C.
    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs = dict(super()._popen_kwargs)
        kwargs.pop("preexec_fn", None)
        kwargs["start_new_session"] = True
        return kwargs


class EmbeddedRedis:
    """redis-server on 127.0.0.1:`port`, its files in `data_dir`; config file, options if given."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        config_file: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._config_file = config_file
        self._extra_args = extra_args or []
        self._executor: TCPExecutor | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self, timeout: float = 30) -> None:
        """Start the server; returns when it accepts TCP connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [redis_server_binary()]
        if self._config_file is not None:
            command.append(str(self._config_file.resolve()))
        else:  # throwaway: nothing on disk, snapshots streamed at once (`estore backup`)
            command += ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
        command += [
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--logfile", "",
            *self._extra_args,
        ]  # fmt: skip
        log_file = (self.data_dir / "redis.log").open("ab")
        self._executor = SessionExecutor(
            dying_with_parent(command),
            host=self.host,
            port=self.port,
            timeout=timeout,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self._executor.start()

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the bench measures its CPU; tests pause it)."""
        process = self._executor.process if self._executor is not None else None
        return process.pid if process is not None else None

    @property
    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would: it saves nothing (failover tests)."""
        if self._executor is not None:
            self._executor.kill(sig=signal.SIGKILL)
            self._executor = None

    def stop(self) -> None:
        """Stop the server (it saves first when persistence is on)."""
        if self._executor is not None:
            self._executor.stop()
            self._executor = None

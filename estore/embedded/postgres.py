"""A private PostgreSQL server in a directory of its own, started from the OS binaries."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from mirakuru import TCPExecutor
from mirakuru.exceptions import ProcessExitedWithError, TimeoutExpired

from estore.embedded.ports import dying_with_parent, free_port

SUPERUSER = "postgres"
QUERY_CHECK_TIMEOUT_SECONDS = 2  # libpq's smallest connect timeout


class EmbeddedStoreError(RuntimeError):
    """A throwaway store cannot be started here; the message says what to do."""


class MissingBinary(EmbeddedStoreError):
    """An OS binary we need is not installed."""


def postgres_bin_dir() -> Path:
    """Where initdb and postgres live: Debian's versioned folder first, then PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).resolve().parent
    raise MissingBinary(
        "PostgreSQL server binaries not found: install them with "
        "`sudo apt-get install postgresql` (or set ESTORE_USERS_DATABASE_URL)"
    )


def query_error(url: str, data_dir: Path | None = None) -> str | None:
    """Why the PostgreSQL at `url` (serving `data_dir`, if given) cannot run a query now.

    None when it can. Checking the data directory tells our server from another one that took
    the port meanwhile (ours then fails to listen, and exits).
    """
    try:
        with psycopg.connect(
            url, autocommit=True, connect_timeout=QUERY_CHECK_TIMEOUT_SECONDS
        ) as connection:
            row = connection.execute("SELECT current_setting('data_directory')").fetchone()
    except psycopg.Error as error:
        return str(error).strip() or type(error).__name__
    served = "" if row is None else str(row[0])
    if data_dir is not None and Path(served) != data_dir:
        return f"another PostgreSQL (data directory {served}) answers on this port"
    return None


class QueryReadyExecutor(TCPExecutor):
    """Started once PostgreSQL runs a query: it accepts TCP while it is still starting up."""

    def __init__(self, *args: Any, url: str, data_dir: Path | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._url = url
        self._data_dir = data_dir
        self.last_error = "it never accepted a TCP connection"

    def after_start_check(self) -> bool:
        if not super().after_start_check():
            return False
        error = query_error(self._url, self._data_dir)
        if error is not None:
            self.last_error = error  # e.g. "the database system is starting up"
        return error is None


def _run_as() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: when we are root, run it as an unprivileged user."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise EmbeddedStoreError("running as root and no unprivileged user (postgres, nobody) exists")


class EmbeddedPostgres:
    """initdb once, then a `postgres` process on 127.0.0.1:`port` with trust authentication."""

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._durable = durable
        self._bin = postgres_bin_dir()
        self._as = _run_as()
        self._executor: TCPExecutor | None = None

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def _check_reachable(self) -> None:
        """As root we run PostgreSQL as another user: every folder above the data must let it in."""
        if not self._as:
            return
        for folder in self.data_dir.parents:
            if not folder.exists():
                continue
            info = folder.stat()
            if info.st_uid != self._as["user"] and not info.st_mode & 0o001:
                raise EmbeddedStoreError(
                    f"PostgreSQL runs as an unprivileged user here (we are root), and it cannot "
                    f"enter {folder} (mode {oct(info.st_mode & 0o777)}). Set ESTORE_DATA_DIR to a "
                    "folder it can reach, e.g. ESTORE_DATA_DIR=/var/tmp/estore, or run as a "
                    "normal user."
                )

    def _prepare(self) -> None:
        self._check_reachable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as:
            os.chown(self.data_dir, self._as["user"], self._as["group"])
        os.chmod(self.data_dir, 0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return
        command = [
            str(self._bin / "initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]  # fmt: skip
        if not self._durable:
            command.append("--no-sync")
        result = subprocess.run(command, capture_output=True, text=True, check=False, **self._as)
        if result.returncode != 0:
            raise EmbeddedStoreError(
                f"initdb failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def start(self, timeout: float = 60) -> None:
        """Create the cluster if needed and start the server; returns when it runs queries."""
        self._prepare()
        command = [
            str(self._bin / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
        ]  # fmt: skip
        if not self._durable:
            command += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            command += ["-c", "full_page_writes=off"]
        log_file = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        executor = QueryReadyExecutor(
            dying_with_parent(command, "SIGINT"),
            host=self.host,
            port=self.port,
            url=self.url(),
            data_dir=self.data_dir,
            timeout=timeout,
            stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients to leave
            stdout=log_file,
            stderr=subprocess.STDOUT,
            popen_kwargs=self._as,
        )
        self._executor = executor
        try:
            executor.start()
        except TimeoutExpired:  # mirakuru has killed it already
            self._executor = None
            raise EmbeddedStoreError(
                f"PostgreSQL did not answer a query within {timeout:g} s: {executor.last_error}"
                f" (see {log_file.name})"
            ) from None
        except ProcessExitedWithError as error:
            self._executor = None
            raise EmbeddedStoreError(
                f"PostgreSQL exited with code {error.exit_code} while starting"
                f" ({executor.last_error}; see {log_file.name})"
            ) from None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the bench measures its CPU)."""
        process = self._executor.process if self._executor is not None else None
        return process.pid if process is not None else None

    @property
    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data stays."""
        if self._executor is not None:
            self._executor.stop()
            self._executor = None

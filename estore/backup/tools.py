"""The OS tools that backup and restore run (pg_dump, pg_restore, redis-cli), and their URLs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from estore.common.redis_cluster import is_cluster_url

REDACTED = "***"
PACKAGES = {
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
    "redis-cli": "redis-tools",
    "redis-server": "redis-server",
}


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says why and what to do."""


def say(command: str, message: str) -> None:
    """One progress line on stderr."""
    print(f"estore {command}: {message}", file=sys.stderr, flush=True)


def _by_version(folder: Path) -> int:
    return int(folder.parent.name) if folder.parent.name.isdigit() else 0


def find_tool(name: str) -> str:
    """An OS binary: Debian's newest /usr/lib/postgresql/<n>/bin first (pg_dump reads older
    servers, never newer ones), then PATH; BackupError naming the package to install."""
    if name.startswith("pg_"):
        for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_by_version)[::-1]:
            if (folder / name).exists():
                return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install it with `sudo apt-get install {PACKAGES[name]}`"
        )
    return found


def run_tool(command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Run an OS tool to completion; BackupError with the end of its output when it fails."""
    result = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        name = Path(command[0]).name
        raise BackupError(f"{name} failed (exit {result.returncode}): " + " / ".join(output))


def refuse_cluster(*urls: str) -> None:
    """BackupError for a Redis Cluster URL: a snapshot of one node would hold only its slots."""
    for url in urls:
        if is_cluster_url(url):
            raise BackupError(
                f"{redact_url(url)} is a Redis Cluster, which estore backup and restore do not"
                " handle yet: back up each master with `redis-cli --rdb` (docs/operations.md)"
            )


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, fit for manifests and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{hostport}"
    query = [(k, REDACTED if k == "password" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))


def _without_userinfo(url: str, keep_user: bool) -> tuple[str, str | None, str | None]:
    parts = urlsplit(url)
    if parts.password is None:
        return url, None, None
    user = unquote(parts.username or "")
    hostport = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{hostport}" if keep_user and user else hostport
    return urlunsplit(parts._replace(netloc=netloc)), user or None, unquote(parts.password)


def postgres_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL to pass pg_dump/pg_restore and their environment: the password goes in PGPASSWORD,
    never on a command line that `ps` shows."""
    bare, _, password = _without_userinfo(url, keep_user=True)
    return bare, ({"PGPASSWORD": password} if password is not None else {})


def redis_cli_target(url: str) -> tuple[list[str], dict[str, str]]:
    """redis-cli's connection arguments and environment, the password in REDISCLI_AUTH."""
    bare, user, password = _without_userinfo(url, keep_user=False)
    arguments = ["-u", bare] + (["--user", user] if user else [])
    return arguments, ({"REDISCLI_AUTH": password} if password is not None else {})

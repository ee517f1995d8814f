"""`estore backup DIR`: pg_dump of the users database and an RDB snapshot of each Redis."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from estore.backup.manifest import (
    MANIFEST,
    USERS_DUMP,
    Manifest,
    RedisSnapshot,
    estore_version,
    now,
    sha256_of,
    write_manifest,
)
from estore.backup.tools import (
    BackupError,
    find_tool,
    postgres_target,
    redact_url,
    redis_cli_target,
    refuse_cluster,
    run_tool,
    say,
)
from estore.stack import StoreUrls


def _say(message: str) -> None:
    say("backup", message)


def redis_snapshots(urls: StoreUrls) -> list[tuple[RedisSnapshot, str]]:
    """The RDB files to take, each with its source URL: one when both stores share a Redis URL.

    Payments comes first: an order refers to a stock reservation made before it, so a later
    inventory snapshot holds every reservation an earlier payments snapshot can mention."""
    inventory, payments = urls.inventory_redis_url, urls.payments_redis_url
    if inventory == payments:
        both = ("inventory", "payments")
        return [(_snapshot("redis-inventory.rdb", inventory, both), inventory)]
    return [
        (_snapshot("redis-payments.rdb", payments, ("payments",)), payments),
        (_snapshot("redis-inventory.rdb", inventory, ("inventory",)), inventory),
    ]


def redis_db(url: str) -> int:
    """The database number a Redis URL selects: `?db=N`, else the path `/N`, else 0."""
    parts = urlsplit(url)
    raw = parse_qs(parts.query).get("db", [""])[0]
    if not raw and parts.scheme != "unix":
        raw = parts.path.strip("/")
    try:
        return int(raw or 0)
    except ValueError:
        raise BackupError(f"{redact_url(url)} names no Redis database number") from None


def _snapshot(file: str, url: str, stores: tuple[str, ...]) -> RedisSnapshot:
    return RedisSnapshot(file, redis_db(url), stores, redact_url(url))


def _prepare_directory(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise BackupError(f"{directory} exists and is not a folder")
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise BackupError(f"{directory} is not empty: choose another folder or pass --force")
        # Until the new manifest is written, the folder must not pass for a finished backup.
        (directory / MANIFEST).unlink(missing_ok=True)
    # The backup holds password hashes: readable by its owner only.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _dump_redis(redis_cli: str, url: str, target: Path) -> None:
    _say(f"Redis snapshot of {redact_url(url)} -> {target.name}")
    arguments, env = redis_cli_target(url)
    # --rdb asks the server for a replication snapshot: one point in time, over the network.
    run_tool([redis_cli, *arguments, "--rdb", str(target)], env)


def _dump_postgres(pg_dump: str, url: str, target: Path) -> None:
    _say(f"pg_dump of {redact_url(url)} -> {target.name}")
    bare, env = postgres_target(url)
    # pg_dump reads in one repeatable-read transaction: a consistent picture of the database.
    run_tool([pg_dump, "--format=custom", "--no-password", "--file", str(target), bare], env)


def take_backup(urls: StoreUrls, directory: Path, *, force: bool = False) -> Manifest:
    """Write every store into `directory` (Redis first, then PostgreSQL) and the manifest last."""
    refuse_cluster(urls.inventory_redis_url, urls.payments_redis_url)
    pg_dump, redis_cli = find_tool("pg_dump"), find_tool("redis-cli")
    _prepare_directory(directory, force)
    snapshots = redis_snapshots(urls)
    for snapshot, url in snapshots:
        _dump_redis(redis_cli, url, directory / snapshot.file)
    # Last, so that every user an order in the Redis snapshots refers to is in this dump.
    _dump_postgres(pg_dump, urls.users_database_url, directory / USERS_DUMP)
    files = [USERS_DUMP, *(snapshot.file for snapshot, _ in snapshots)]
    for name in files:
        (directory / name).chmod(0o600)
    manifest = Manifest(
        created_at=now(),
        estore_version=estore_version(),
        users_source=redact_url(urls.users_database_url),
        redis=tuple(snapshot for snapshot, _ in snapshots),
        sha256={name: sha256_of(directory / name) for name in files},
    )
    write_manifest(directory, manifest)
    _say(f"done: {', '.join(files)} and {MANIFEST} in {directory}")
    return manifest

"""`estore restore DIR`: check a backup whole, then replace the users database and Redis with it."""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psycopg
import redis

from estore.backup.manifest import USERS_DUMP, Manifest, RedisSnapshot, read_verified
from estore.backup.redis_copy import copy_database, snapshot_server
from estore.backup.tools import (
    BackupError,
    find_tool,
    postgres_target,
    redact_url,
    refuse_cluster,
    run_tool,
    say,
)
from estore.embedded.redis import EmbeddedRedis
from estore.inventory.store_events import announce_restore
from estore.stack import StoreUrls
from estore.users.user_cache import ALL_USERS
from estore.users.user_cache import CHANNEL as USERS_CHANNEL

CONNECT_TIMEOUT_SECONDS = 10


def _say(message: str) -> None:
    say("restore", message)


def redis_plan(manifest: Manifest, urls: StoreUrls) -> dict[str, list[RedisSnapshot]]:
    """Which snapshots go into which Redis now: each target is emptied once, then filled."""
    targets = {"inventory": urls.inventory_redis_url, "payments": urls.payments_redis_url}
    plan: dict[str, list[RedisSnapshot]] = {}
    for snapshot in manifest.redis:
        for store in snapshot.stores:
            wanted = plan.setdefault(targets[store], [])
            if snapshot not in wanted:
                wanted.append(snapshot)
    return plan


def _confirm(targets: list[str], assume_yes: bool) -> None:
    if assume_yes:
        return
    listing = ", ".join(redact_url(target) for target in targets)
    if not sys.stdin.isatty():
        raise BackupError(
            f"restore replaces everything in {listing}; "
            "pass --yes to confirm (stdin is not a terminal, so nobody can be asked)"
        )
    print(f"Restore replaces everything in {listing}.", file=sys.stderr)
    if input("Type yes to go on: ").strip().lower() != "yes":
        raise BackupError("restore cancelled: nothing was changed")


def _ensure_public_schema(url: str) -> None:
    # pg_dump leaves out the public schema itself; a wiped database needs it back for the tables.
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as db:
            if not db.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'public'").fetchone():
                db.execute("CREATE SCHEMA public")
    except psycopg.Error as error:
        raise BackupError(f"PostgreSQL {redact_url(url)}: {error}".strip()) from None


def _restore_postgres(pg_restore: str, url: str, dump: Path) -> None:
    _say(f"{dump.name} -> {redact_url(url)} (one transaction)")
    _ensure_public_schema(url)
    bare, env = postgres_target(url)
    command = [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction"]
    run_tool([*command, "--no-password", "--dbname", bare, str(dump)], env)
    # The tables were dropped and made anew, which no row trigger announces: running UserService
    # processes must drop every account they keep. The data is restored already: a failure here
    # is told, not a reason to leave Redis unrestored.
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as db:
            db.execute("SELECT pg_notify(%s, %s)", (USERS_CHANNEL, ALL_USERS))
    except psycopg.Error as error:
        _say(
            f"warning: could not tell running UserService processes to drop their accounts"
            f" ({error}); restart them".strip()
        )


def _restore_redis(
    target: str, sources: list[tuple[RedisSnapshot, EmbeddedRedis]], *, inventory: bool
) -> None:
    names = ", ".join(snapshot.file for snapshot, _ in sources)
    _say(f"{names} -> {redact_url(target)} (emptied first)")
    try:
        with redis.Redis.from_url(target) as client:
            client.flushdb()
            for snapshot, server in sources:
                copied = copy_database(server, snapshot.db, client)
                _say(f"{snapshot.file}: {copied} keys copied")
            if inventory:  # running Inventory instances empty their near caches
                announce_restore(client)
    except redis.RedisError as error:
        raise BackupError(f"Redis {redact_url(target)}: {error}") from None


def restore_backup(urls: StoreUrls, directory: Path, *, assume_yes: bool = False) -> None:
    """Replace the stores' contents with the backup in `directory`, after checking it whole."""
    refuse_cluster(urls.inventory_redis_url, urls.payments_redis_url)
    manifest = read_verified(directory)
    _say(f"backup of {manifest.created_at} (estore {manifest.estore_version}): checksums match")
    pg_restore = find_tool("pg_restore")
    find_tool("redis-server")
    plan = redis_plan(manifest, urls)
    _confirm([urls.users_database_url, *plan], assume_yes)
    with tempfile.TemporaryDirectory(prefix="estore-restore-") as workdir, ExitStack() as stack:
        # Load every snapshot before touching a store: a bad one must not leave them half done.
        servers: dict[str, EmbeddedRedis] = {}
        for snapshot in manifest.redis:
            rdb = directory / snapshot.file
            servers[snapshot.file] = stack.enter_context(snapshot_server(rdb, Path(workdir)))
        _restore_postgres(pg_restore, urls.users_database_url, directory / USERS_DUMP)
        for target, snapshots in plan.items():
            sources = [(snapshot, servers[snapshot.file]) for snapshot in snapshots]
            _restore_redis(target, sources, inventory=target == urls.inventory_redis_url)
    _say("done")

"""Versioned SQL migrations: pending files applied in order, once, under an advisory lock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from estore.users.errors import StoreUnavailable

log = logging.getLogger("estore.users.migrate")

MIGRATIONS_PACKAGE = "estore.users.migrations"
# Any fixed number works; it only has to be the same for every instance migrating this database.
ADVISORY_LOCK_KEY = 0x6573746F7265_01
CONNECT_TIMEOUT_SECONDS = 10

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file: `0001_users.sql` has version `0001`."""

    version: str
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version = entry.name.split("_", 1)[0]
        if not version.isdigit():
            raise ValueError(f"migration {entry.name} does not start with a version number")
        found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: int(migration.version))
    return found


async def apply_migrations(connection: psycopg.AsyncConnection[Any]) -> list[str]:
    """Apply what the database lacks (autocommit connection); returns the versions applied now."""
    # Each migration runs in a transaction of its own; the session-level advisory lock makes a
    # second migrator (another instance starting) wait, then find nothing left to do.
    await connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        await connection.execute(_CREATE_LEDGER)
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        done = {str(row[0]) for row in await cursor.fetchall()}
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            log.info("applied migration", extra={"migration": migration.name})
            applied.append(migration.version)
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


async def migrate(database_url: str) -> list[str]:
    """Connect to `database_url` and apply pending migrations; StoreUnavailable if unreachable."""
    try:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as connection:
            return await apply_migrations(connection)
    except psycopg.OperationalError as error:
        raise StoreUnavailable(f"cannot migrate the user database: {error}") from error

"""Migrations apply once, in order, and two migrators at once do not trip over each other."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from estore.embedded.ports import free_port
from estore.users.errors import StoreUnavailable
from estore.users.migrate import available_migrations, migrate

ALL = [m.version for m in available_migrations()]


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_the_shipped_migrations_are_numbered_in_order() -> None:
    assert ALL == ["0001", "0002", "0003", "0004", "0005"]


async def test_migrating_twice_is_harmless(database_url: str) -> None:
    assert await migrate(database_url) == ALL
    assert await migrate(database_url) == []
    assert _tables(database_url) == {
        "schema_migrations",
        "users",
        "verification_tokens",
        "login_failures",
        "service_secrets",
        "sessions",
        "refresh_tokens",
        "revocations",
    }
    with psycopg.connect(database_url) as connection:
        versions = connection.execute("SELECT version FROM schema_migrations ORDER BY 1")
        assert [v for (v,) in versions.fetchall()] == ALL


async def test_concurrent_migrators_apply_each_migration_once(database_url: str) -> None:
    results = await asyncio.gather(*(migrate(database_url) for _ in range(4)))
    assert sorted(v for applied in results for v in applied) == ALL
    assert sum(1 for applied in results if applied) == 1


async def test_an_unreachable_database_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await migrate(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")


async def test_the_schema_enforces_what_correctness_needs(users_database_url: str) -> None:
    with psycopg.connect(users_database_url, autocommit=True) as connection:
        connection.execute("INSERT INTO users (email, hashed_password) VALUES ('ana@x.io', 'h')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute(
                "INSERT INTO users (email, hashed_password) VALUES ('ANA@x.io', 'h')"
            )
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "INSERT INTO verification_tokens (user_id, token_hash, purpose, expires_at)"
                " SELECT id, sha256('t'), 'something_else', now() FROM users"
            )
        with pytest.raises(psycopg.errors.CheckViolation):  # a raw token is not a digest
            connection.execute(
                "INSERT INTO verification_tokens (user_id, token_hash, purpose, expires_at)"
                " SELECT id, 'raw-token'::bytea, 'verify_email', now() FROM users"
            )

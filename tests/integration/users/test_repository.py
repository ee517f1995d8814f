"""UserRepository against a real PostgreSQL: uniqueness, single-use tokens, throttling, outages."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from estore.embedded.ports import free_port
from estore.users.errors import EmailAlreadyExists, StoreUnavailable
from estore.users.models import NewToken, TokenPurpose, UserFilter
from estore.users.repository import UserRepository

VERIFY = TokenPurpose.VERIFY_EMAIL
RESET = TokenPurpose.RESET_PASSWORD


@pytest.fixture
async def repository(users_database_url: str) -> AsyncIterator[UserRepository]:
    async with AsyncConnectionPool(
        users_database_url, open=False, max_size=10, check=AsyncConnectionPool.check_connection
    ) as pool:
        yield UserRepository(pool)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _token(name: str, purpose: TokenPurpose, ttl_seconds: int = 60) -> NewToken:
    return NewToken(_digest(name), purpose, ttl_seconds)


def _sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(query.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


async def test_emails_are_unique_whatever_their_case(repository: UserRepository) -> None:
    await repository.create_user("ana@example.com", "hash")
    with pytest.raises(EmailAlreadyExists):
        await repository.create_user("ANA@Example.com", "hash")
    found = await repository.get_credentials(email="Ana@example.com")
    assert found is not None
    assert found.password_hash == "hash"


async def test_a_refused_account_leaves_no_token(repository: UserRepository) -> None:
    await repository.create_user("ana@example.com", "hash")
    with pytest.raises(EmailAlreadyExists):
        await repository.create_user(
            "ana@example.com", "hash", token=NewToken(_digest("t"), VERIFY, 60)
        )
    assert await repository.verify_email(_digest("t")) is None


async def test_a_token_is_used_exactly_once_under_concurrency(repository: UserRepository) -> None:
    user = await repository.create_user(
        "ana@example.com", "hash", token=NewToken(_digest("t"), VERIFY, 60)
    )
    results = await asyncio.gather(*(repository.verify_email(_digest("t")) for _ in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].id == user.id
    assert winners[0].is_verified


async def test_an_expired_token_is_told_apart_from_a_used_one(
    repository: UserRepository, users_database_url: str
) -> None:
    user = await repository.create_user("ana@example.com", "hash")
    await repository.add_token(user.id, NewToken(_digest("old"), RESET, 0))
    await repository.add_token(user.id, _token("new", RESET))
    assert await repository.reset_password(_digest("old"), "h2") is None
    assert await repository.token_expired(_digest("old"), RESET)
    assert await repository.reset_password(_digest("new"), "h2") is not None
    assert not await repository.token_expired(_digest("new"), RESET)
    assert not await repository.token_expired(_digest("new"), VERIFY)


async def test_login_attempts_count_within_the_window(
    repository: UserRepository, users_database_url: str
) -> None:
    for _ in range(5):
        assert (await repository.begin_login_attempt("ana@example.com", 900, 5)).id is not None
    refused = await repository.begin_login_attempt("ana@example.com", 900, 5)
    assert refused.id is None
    assert 895 < refused.retry_after_seconds <= 900
    assert (await repository.begin_login_attempt("bob@example.com", 900, 5)).id is not None
    _sql(users_database_url, "UPDATE login_failures SET at = at - interval '14 minutes'")
    refused = await repository.begin_login_attempt("ana@example.com", 900, 5)
    assert 55 < refused.retry_after_seconds <= 60
    _sql(users_database_url, "UPDATE login_failures SET at = at - interval '1 minute'")
    assert (await repository.begin_login_attempt("ana@example.com", 900, 5)).id is not None
    # Failures that left the window are deleted as new attempts come.
    assert _sql(users_database_url, "SELECT count(*) FROM login_failures") == [(1,)]


async def test_concurrent_attempts_take_turns_at_the_limit(repository: UserRepository) -> None:
    attempts = await asyncio.gather(
        *(repository.begin_login_attempt("ana@example.com", 900, 5) for _ in range(20))
    )
    admitted = [a.id for a in attempts if a.id is not None]
    assert len(admitted) == 5
    await repository.forget_login_attempt(admitted[0])  # that check succeeded
    assert (await repository.begin_login_attempt("ana@example.com", 900, 5)).id is not None
    assert (await repository.begin_login_attempt("ana@example.com", 900, 5)).id is None


async def test_a_token_waits_out_the_cooldown_of_its_purpose(
    repository: UserRepository, users_database_url: str
) -> None:
    user = await repository.create_user("ana@example.com", "hash", token=_token("v1", VERIFY))
    assert not await repository.add_token(user.id, _token("v2", VERIFY), cooldown_seconds=60)
    racing = [
        repository.add_token(user.id, _token(f"r{i}", RESET), cooldown_seconds=60)
        for i in range(10)
    ]
    assert sorted(await asyncio.gather(*racing)) == [False] * 9 + [True]
    _sql(users_database_url, "UPDATE verification_tokens SET created_at = now() - interval '61 s'")
    assert await repository.add_token(user.id, _token("v2", VERIFY), cooldown_seconds=60)
    assert await repository.verify_email(_digest("v2")) is not None
    assert not await repository.add_token(9999, _token("x", RESET))  # no such account


async def test_new_tokens_sweep_out_tokens_dead_for_a_day(
    repository: UserRepository, users_database_url: str
) -> None:
    user = await repository.create_user("ana@example.com", "hash")
    for name in ("expired long ago", "expired"):
        await repository.add_token(user.id, _token(name, RESET, 0))
    for name in ("used long ago", "used"):
        await repository.add_token(user.id, _token(name, VERIFY))
        await repository.verify_email(_digest(name))
    _sql(
        users_database_url,
        "UPDATE verification_tokens SET expires_at = expires_at - interval '25 hours',"
        " used_at = used_at - interval '25 hours' WHERE token_hash = ANY(%s)",
        [_digest("expired long ago"), _digest("used long ago")],
    )
    await repository.add_token(user.id, _token("new", RESET))
    left = _sql(users_database_url, "SELECT token_hash FROM verification_tokens")
    assert {bytes(digest) for (digest,) in left} == {
        _digest(name) for name in ("expired", "used", "new")
    }
    assert await repository.token_expired(_digest("expired"), RESET)


async def test_list_users_keyset_and_filters(repository: UserRepository) -> None:
    ids = [(await repository.create_user(f"u{i}@example.com", "h")).id for i in range(5)]
    await repository.create_user("u%x@example.com", "h", is_admin=True)
    page = await repository.list_users(UserFilter(), ids[1], 2)
    assert [u.id for u in page] == ids[2:4]
    assert len(await repository.list_users(UserFilter(email_prefix="u%"), 0, 10)) == 1
    assert len(await repository.list_users(UserFilter(is_admin=False), 0, 10)) == 5


async def test_the_shared_secret_is_whoever_stored_it_first(repository: UserRepository) -> None:
    first = await repository.shared_secret(b"a" * 32)
    assert await repository.shared_secret(b"b" * 32) == first == b"a" * 32


async def test_a_database_that_is_not_there_is_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with AsyncConnectionPool(url, open=False, min_size=1, reconnect_timeout=1) as pool:
        repository = UserRepository(pool, timeout=0.3)
        with pytest.raises(StoreUnavailable) as caught:
            await repository.get_user(1)
        assert caught.value.reason == "STORE_UNAVAILABLE"


async def test_reads_reuse_a_cursor_per_connection_and_forget_closed_ones(
    users_database_url: str,
) -> None:
    async with AsyncConnectionPool(
        users_database_url, open=False, min_size=1, max_size=1, kwargs={"autocommit": True}
    ) as pool:
        repository = UserRepository(pool)
        user = await repository.create_user("ana@example.com", "hash")
        assert await repository.get_user(user.id) == user
        assert await repository.get_user(user.id + 1) is None
        assert await repository.get_user(user.id) == user
        assert len(repository._cursors) == 1
        async with pool.connection() as connection:
            await connection.close()  # the pool replaces it
        assert await repository.get_user(user.id) == user
        assert len(repository._cursors) == 1

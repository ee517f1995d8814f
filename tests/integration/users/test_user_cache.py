"""The accounts cache against a real PostgreSQL: every change reaches it, and none is missed."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from estore.users.models import NewToken, TokenPurpose, User
from estore.users.repository import UserRepository
from estore.users.user_cache import APPLICATION_NAME, UserCache
from tests.helpers import eventually

Repositories = Callable[[UserCache], Awaitable[UserRepository]]


@pytest.fixture
async def repositories(users_database_url: str) -> AsyncIterator[Repositories]:
    """Repositories on pools of their own, as in separate processes, each with its cache."""
    pools: list[AsyncConnectionPool[Any]] = []

    async def make(cache: UserCache) -> UserRepository:
        pool = AsyncConnectionPool(users_database_url, open=False, kwargs={"autocommit": True})
        await pool.open()
        pools.append(pool)
        return UserRepository(pool, users=cache)

    yield make
    for pool in pools:
        await pool.close()


@pytest.fixture
async def caches(users_database_url: str) -> AsyncIterator[Callable[[], Awaitable[UserCache]]]:
    started: list[UserCache] = []

    async def start() -> UserCache:
        cache = UserCache(users_database_url, retry_seconds=0.05)
        await cache.start()
        assert cache.live
        started.append(cache)
        return cache

    yield start
    for cache in started:
        await cache.stop()


class _Deaf(UserCache):
    """Keeps accounts as if it followed changes, but hears none: only this process's own."""

    async def start(self, wait_seconds: float = 0.0) -> None:
        self._live = True


def _sql(url: str, query: str, *params: Any) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(query.encode(), params or None)


async def test_a_change_made_elsewhere_reaches_every_process(
    repositories: Repositories, caches: Callable[[], Awaitable[UserCache]], users_database_url: str
) -> None:
    here, there = await repositories(await caches()), await repositories(await caches())
    user = await here.create_user("ana@x.io", "h")
    assert await there.get_user(user.id) == user
    assert there._users is not None
    assert there._users.get(user.id) == user

    await here.update_flags(user.id, {"is_active": False})

    async def there_sees_it() -> bool:
        found = await there.get_user(user.id)
        return found is not None and not found.is_active

    await eventually(there_sees_it)
    # A change no EStore process made (psql, a migration) is heard of too.
    _sql(users_database_url, "UPDATE users SET is_verified = true WHERE id = %s", user.id)

    async def both_see_it() -> bool:
        found = [await repository.get_user(user.id) for repository in (here, there)]
        return all(account is not None and account.is_verified for account in found)

    await eventually(both_see_it)


async def test_a_truncate_empties_every_cache(
    repositories: Repositories, caches: Callable[[], Awaitable[UserCache]], users_database_url: str
) -> None:
    repository = await repositories(cache := await caches())
    user = await repository.create_user("ana@x.io", "h")
    await repository.get_user(user.id)
    _sql(users_database_url, "TRUNCATE users CASCADE")

    async def gone() -> bool:
        return cache.get(user.id) is None and await repository.get_user(user.id) is None

    await eventually(gone)


async def test_this_process_reads_its_own_writes_at_once(
    repositories: Repositories, users_database_url: str
) -> None:
    # Deaf: no notification can do the work; each write must drop this process's copy itself.
    cache = _Deaf(users_database_url)
    await cache.start()
    repository = await repositories(cache)
    user = await repository.create_user(
        "ana@x.io", "h", token=_token("v", TokenPurpose.VERIFY_EMAIL)
    )

    async def read() -> User:
        found = await repository.get_user(user.id)
        assert found is not None
        return found

    assert cache.get(user.id) is None
    assert await read() == user
    assert cache.get(user.id) == user

    assert await repository.verify_email(_digest("v")) is not None
    assert (await read()).is_verified
    await repository.update_flags(user.id, {"is_admin": True})
    assert (await read()).is_admin
    before = await read()
    await repository.set_password(user.id, "h2")
    assert (await read()).updated_at != before.updated_at
    assert await repository.add_token(user.id, _token("r", TokenPurpose.RESET_PASSWORD))
    before = await read()
    assert await repository.reset_password(_digest("r"), "h3") is not None
    assert (await read()).updated_at != before.updated_at
    await repository.update_flags(user.id, {"is_active": False})
    before = await read()
    await repository.make_admin(user.id, "h4")
    after = await read()
    assert after.is_active
    assert after.updated_at != before.updated_at
    # A read asked to be fresh goes to PostgreSQL even past a copy kept here.
    _sql(users_database_url, "UPDATE users SET is_admin = false WHERE id = %s", user.id)
    assert (await read()).is_admin
    fresh = await repository.get_user(user.id, fresh=True)
    assert fresh is not None
    assert not fresh.is_admin


async def test_while_changes_cannot_be_followed_reads_go_to_postgres(
    repositories: Repositories, caches: Callable[[], Awaitable[UserCache]], users_database_url: str
) -> None:
    repository = await repositories(cache := await caches())
    user = await repository.create_user("ana@x.io", "h")
    await repository.get_user(user.id)
    assert cache.get(user.id) is not None

    # Cut the LISTEN connection and, before it is back, change the account: that notification
    # is never heard, so nothing kept from before the cut may be served.
    with psycopg.connect(users_database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )
        admin.execute("UPDATE users SET is_verified = true WHERE id = %s", (user.id,))

    async def fresh() -> bool:
        found = await repository.get_user(user.id)
        return found is not None and found.is_verified

    await eventually(fresh)

    async def following_again() -> bool:
        return cache.live

    await eventually(following_again)
    found = await repository.get_user(user.id)
    assert found is not None
    assert found.is_verified
    assert cache.get(user.id) == found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _token(name: str, purpose: TokenPurpose) -> NewToken:
    return NewToken(_digest(name), purpose, 60)


async def test_without_the_trigger_nothing_is_kept(users_database_url: str) -> None:
    # A restored dump older than migration 0005 has no trigger: changes would go unheard.
    _sql(users_database_url, "DROP TRIGGER users_changed ON users")
    cache = UserCache(users_database_url, retry_seconds=0.05)
    await cache.start(wait_seconds=0.5)
    try:
        assert not cache.live
        await migrate_again(users_database_url)

        async def following() -> bool:
            return cache.live

        await eventually(following, within=5)
    finally:
        await cache.stop()


async def migrate_again(url: str) -> None:
    """What `estore migrate` would do for a restored older dump: the trigger back."""
    _sql(
        url,
        "CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users"
        " FOR EACH ROW EXECUTE FUNCTION estore_users_changed()",
    )

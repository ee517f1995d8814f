"""Sessions and the revocation feed against a real PostgreSQL: races, commit order, expiry."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from estore.users.models import NewRefreshToken, RotationOutcome
from estore.users.repository import UserRepository
from estore.users.repository_revocations import FEED_LOCK_KEY


@pytest.fixture
async def repository(users_database_url: str) -> AsyncIterator[UserRepository]:
    async with AsyncConnectionPool(
        users_database_url, open=False, max_size=12, check=AsyncConnectionPool.check_connection
    ) as pool:
        yield UserRepository(pool, access_token_ttl_seconds=300)


def _token(name: str) -> NewRefreshToken:
    return NewRefreshToken(hashlib.sha256(name.encode()).digest(), 3600)


async def test_concurrent_uses_of_one_refresh_token_rotate_once_and_end_the_session(
    repository: UserRepository,
) -> None:
    user = await repository.create_user("ana@example.com", "hash")
    grant = await repository.start_session(user.id, "s1", _token("first"))
    assert grant is not None
    assert grant.generation == 0
    first = _token("first").digest
    rotations = await asyncio.gather(
        *(repository.rotate_refresh_token(first, _token(f"next-{i}")) for i in range(6))
    )
    outcomes = Counter(rotation.outcome for rotation in rotations)
    assert outcomes[RotationOutcome.ROTATED] == 1
    assert outcomes[RotationOutcome.REUSED] >= 1  # the first reuse ends the session
    assert set(outcomes) <= {
        RotationOutcome.ROTATED,
        RotationOutcome.REUSED,
        RotationOutcome.REVOKED,
    }
    winner = next(r for r in rotations if r.outcome is RotationOutcome.ROTATED)
    assert winner.grant is not None
    index = rotations.index(winner)
    newest = await repository.rotate_refresh_token(_token(f"next-{index}").digest, _token("x"))
    assert newest.outcome is RotationOutcome.REVOKED
    [ended] = await repository.list_revocations(0, 10)
    assert (ended.user_id, ended.session_id, ended.below_generation) == (user.id, "s1", 0)


async def test_deactivation_revokes_tokens_and_sessions_but_demotion_only_tokens(
    repository: UserRepository,
) -> None:
    boss = await repository.create_user("boss@example.com", "hash", is_admin=True)
    await repository.start_session(boss.id, "s1", _token("t1"))
    await repository.update_flags(boss.id, {"is_admin": False})
    await repository.update_flags(boss.id, {"is_admin": False})  # no change: nothing revoked
    demoted = await repository.rotate_refresh_token(_token("t1").digest, _token("t2"))
    assert demoted.grant is not None
    assert (demoted.grant.generation, demoted.grant.user.is_admin) == (1, False)
    await repository.update_flags(boss.id, {"is_active": False})
    gone = await repository.rotate_refresh_token(_token("t2").digest, _token("t3"))
    assert gone.outcome is RotationOutcome.REVOKED
    assert await repository.start_session(boss.id, "s2", _token("t4")) is None
    feed = await repository.list_revocations(0, 10)
    assert [(r.user_id, r.below_generation) for r in feed] == [(boss.id, 1), (boss.id, 2)]


async def test_feed_ids_commit_in_order(
    repository: UserRepository, users_database_url: str
) -> None:
    user = await repository.create_user("ana@example.com", "hash")
    await repository.start_session(user.id, "s1", _token("t1"))
    # Another writer holds the feed lock, as a revocation does until it commits.
    async with await psycopg.AsyncConnection.connect(users_database_url) as holder:
        await holder.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK_KEY,))
        logout = asyncio.create_task(repository.end_session(_token("t1").digest))
        await asyncio.sleep(0.3)
        assert not logout.done()  # it waits: no later id can commit before an earlier one
        assert await repository.list_revocations(0, 10) == []
        await holder.rollback()
    assert await logout
    assert len(await repository.list_revocations(0, 10)) == 1


async def test_the_feed_leaves_out_what_has_expired(
    repository: UserRepository, users_database_url: str
) -> None:
    user = await repository.create_user("ana@example.com", "hash")
    await repository.set_password(user.id, "new hash")
    await repository.set_password(user.id, "newer hash")
    with psycopg.connect(users_database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE revocations SET expires_at = now() - interval '1 second' WHERE id = "
            "(SELECT min(id) FROM revocations)"
        )
    [left] = await repository.list_revocations(0, 10)
    assert left.below_generation == 2
    assert left.expires_at > 0

"""The revocation feed in PostgreSQL: what every service must stop accepting, in commit order."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from estore.common.auth import CLOCK_SKEW_SECONDS
from estore.common.revocations import Revocation
from estore.users.repository_base import Cursor, Repository, fetch_one
from estore.users.user_cache import UserCache

# Any fixed number; every instance appending to the feed takes it, so feed ids commit in order.
FEED_LOCK_KEY = 0x6573746F7265_02

# Revocations whose tokens have all expired matter to nobody: a batch goes with each new one.
_PRUNE_EXPIRED = """
    DELETE FROM revocations WHERE id IN (
        SELECT id FROM revocations WHERE expires_at < now()
        LIMIT 100 FOR UPDATE SKIP LOCKED
    )
"""


class RevocationRecords(Repository):
    """Appends to the feed (inside the transaction that makes the change) and reads it."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        timeout: float = 5.0,
        access_token_ttl_seconds: int = 3600,
        users: UserCache | None = None,
    ) -> None:
        super().__init__(pool, timeout=timeout, users=users)
        # A revocation must outlive every token it covers, wherever that token is checked.
        self._revocation_seconds = access_token_ttl_seconds + 2 * CLOCK_SKEW_SECONDS

    async def list_revocations(self, after_id: int, limit: int) -> list[Revocation]:
        """Up to `limit` unexpired revocations with ids above `after_id`, in id order."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "SELECT id, user_id, below_generation, session_id,"
                " EXTRACT(EPOCH FROM expires_at)::float8 AS expires_at FROM revocations"
                " WHERE id > %s AND expires_at > now() ORDER BY id LIMIT %s",
                (after_id, limit),
            )
            rows = await cursor.fetchall()
        return [
            Revocation(
                id=row["id"],
                user_id=row["user_id"],
                expires_at=row["expires_at"],
                below_generation=row["below_generation"] or 0,
                session_id=row["session_id"] or "",
            )
            for row in rows
        ]

    async def _revoke_user_tokens(
        self, cursor: Cursor, user_id: int, *, end_sessions: bool
    ) -> None:
        """Revoke every access token of the account (and with `end_sessions`, every session)."""
        await cursor.execute(
            "UPDATE users SET token_generation = token_generation + 1 WHERE id = %s"
            " RETURNING token_generation",
            (user_id,),
        )
        generation = int((await fetch_one(cursor))["token_generation"])
        if end_sessions:
            await cursor.execute(
                "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                (user_id,),
            )
        await self._append(cursor, user_id, generation, None)

    async def _revoke_session(self, cursor: Cursor, user_id: int, session_id: str) -> None:
        """Revoke the access tokens of one session (its row is already marked revoked)."""
        await self._append(cursor, user_id, None, session_id)

    async def _append(
        self, cursor: Cursor, user_id: int, below_generation: int | None, session_id: str | None
    ) -> None:
        # Taken last, so that no transaction holding it ever waits for another lock: while it
        # is held, no other revocation can take a later id and commit first.
        await cursor.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK_KEY,))
        await cursor.execute(
            "INSERT INTO revocations (user_id, below_generation, session_id, expires_at)"
            " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
            (user_id, below_generation, session_id, self._revocation_seconds),
        )
        await cursor.execute(_PRUNE_EXPIRED)

"""The sign-in throttle in PostgreSQL, so that every instance throttles one email alike."""

from __future__ import annotations

from estore.users.models import LoginAttempt
from estore.users.repository_base import Cursor, Repository, fetch_one

# How many of the latest `limit` failures are in the window, and when the oldest of them leaves.
_RECENT_FAILURES = """
    SELECT count(*) AS count, COALESCE(EXTRACT(EPOCH FROM
        min(at) + make_interval(secs => %(window)s) - now()), 0) AS retry_after
    FROM (SELECT at FROM login_failures WHERE email = %(email)s
          AND at > now() - make_interval(secs => %(window)s)
          ORDER BY at DESC LIMIT %(limit)s) AS recent
"""

# Failures older than the window count for no email any more: forget a batch with each new one.
# SKIP LOCKED: concurrent attempts prune different rows, never waiting (or deadlocking) on them.
_PRUNE_OLD_FAILURES = """
    DELETE FROM login_failures WHERE id IN (
        SELECT id FROM login_failures WHERE at < now() - make_interval(secs => %s)
        LIMIT 100 FOR UPDATE SKIP LOCKED
    )
"""


class LoginAttempts(Repository):
    """Password checks per email: each counts as a failure until it is known to have succeeded."""

    async def begin_login_attempt(
        self, email: str, window_seconds: int, limit: int
    ) -> LoginAttempt:
        """Record an attempt for `email` as a failure, unless `limit` are already in the window."""
        # Counting and recording in one transaction under a lock on the email means concurrent
        # attempts take turns: of any number at once, at most `limit` are let through.
        async with self._transaction() as cursor:
            await cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(lower(%s), 0))", (email,)
            )
            await cursor.execute(
                _RECENT_FAILURES, {"email": email, "window": window_seconds, "limit": limit}
            )
            recent = await fetch_one(cursor)
            if recent["count"] >= limit:
                return LoginAttempt(None, float(recent["retry_after"]))
            attempt_id = await self._insert_failure(cursor, email, window_seconds)
        return LoginAttempt(attempt_id)

    async def forget_login_attempt(self, attempt_id: int) -> None:
        """The attempt succeeded: it no longer counts as a failure."""
        async with self._transaction() as cursor:
            await cursor.execute("DELETE FROM login_failures WHERE id = %s", (attempt_id,))

    async def record_login_failure(self, email: str, window_seconds: int) -> None:
        """Count a failed sign-in whatever the count (to arrange data; sign-ins begin attempts)."""
        async with self._transaction() as cursor:
            await self._insert_failure(cursor, email, window_seconds)

    @staticmethod
    async def _insert_failure(cursor: Cursor, email: str, window_seconds: int) -> int:
        await cursor.execute(
            "INSERT INTO login_failures (email) VALUES (%s) RETURNING id", (email,)
        )
        attempt_id = int((await fetch_one(cursor))["id"])
        await cursor.execute(_PRUNE_OLD_FAILURES, (window_seconds,))
        return attempt_id

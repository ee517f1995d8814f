"""Sign-in sessions in PostgreSQL: refresh tokens stored as digests, rotated, reuse detected."""

from __future__ import annotations

from psycopg import sql
from psycopg.rows import DictRow

from estore.users.models import Grant, NewRefreshToken, Rotation, RotationOutcome
from estore.users.repository_base import USER_COLUMNS_OF_U, Cursor, fetch_one, user_from_row
from estore.users.repository_revocations import RevocationRecords

# Sessions ended or expired more than a day ago go, a batch at a time, as new ones start.
_PRUNE_DEAD_SESSIONS = """
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions
        WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'
        LIMIT 100 FOR UPDATE SKIP LOCKED
    )
"""
# Both rows are locked: rotations, reuse and logouts of one session take turns, and each sees
# the rows as the one before left them (a joined row that is not locked would be read as it
# was before the wait, and every concurrent use of one token would find it unused).
_FIND_TOKEN = """
    SELECT r.used_at, s.id AS session_id, s.user_id, s.revoked_at, s.expires_at <= now() AS expired
    FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
    WHERE r.token_hash = %s FOR UPDATE OF s, r
"""
_ACCOUNT = sql.SQL("SELECT {}, u.token_generation FROM users u WHERE u.id = %s").format(
    USER_COLUMNS_OF_U
)


def _grant(account: DictRow, session_id: str, expires: DictRow) -> Grant:
    user = user_from_row(account)
    return Grant(user, int(account["token_generation"]), session_id, expires["expires_at"])


class SessionRecords(RevocationRecords):
    """Sessions and their chains of refresh tokens."""

    async def start_session(
        self, user_id: int, session_id: str, token: NewRefreshToken
    ) -> Grant | None:
        """Open a session with its first refresh token; None if the account is not active."""
        async with self._transaction() as cursor:
            # FOR SHARE: a deactivation or password change waits for this session, then ends it.
            await cursor.execute(_ACCOUNT + sql.SQL(" FOR SHARE"), (user_id,))
            account = await cursor.fetchone()
            if account is None or not account["is_active"]:
                return None
            await cursor.execute(
                "INSERT INTO sessions (id, user_id, expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
                (session_id, user_id, token.ttl_seconds),
            )
            expires = await fetch_one(cursor)
            await self._insert_refresh_token(cursor, session_id, token.digest)
            await cursor.execute(_PRUNE_DEAD_SESSIONS)
        return _grant(account, session_id, expires)

    async def rotate_refresh_token(self, digest: bytes, successor: NewRefreshToken) -> Rotation:
        """Use a refresh token once, for `successor` in its session; reuse ends the session."""
        async with self._transaction() as cursor:
            await cursor.execute(_FIND_TOKEN, (digest,))
            found = await cursor.fetchone()
            if found is None:
                return Rotation(RotationOutcome.UNKNOWN)
            if found["revoked_at"] is not None:
                return Rotation(RotationOutcome.REVOKED)
            if found["used_at"] is not None:
                # Used twice: one of its holders copied it. End the session for both.
                await self._end(cursor, found["user_id"], found["session_id"])
                return Rotation(RotationOutcome.REUSED)
            if found["expired"]:
                return Rotation(RotationOutcome.EXPIRED)
            # Not locked: a deactivation or password change committing after this read still
            # ends the session (it waits for our lock) and revokes the access token (generation).
            await cursor.execute(_ACCOUNT, (found["user_id"],))
            account = await fetch_one(cursor)
            if not account["is_active"]:
                return Rotation(RotationOutcome.INACTIVE)
            await cursor.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = %s", (digest,)
            )
            await cursor.execute(
                "UPDATE sessions SET expires_at = now() + make_interval(secs => %s)"
                " WHERE id = %s RETURNING expires_at",
                (successor.ttl_seconds, found["session_id"]),
            )
            expires = await fetch_one(cursor)
            await self._insert_refresh_token(cursor, found["session_id"], successor.digest)
        return Rotation(RotationOutcome.ROTATED, _grant(account, found["session_id"], expires))

    async def end_session(self, digest: bytes) -> bool:
        """End the session of any refresh token it ever had; False if the token is unknown."""
        async with self._transaction() as cursor:
            await cursor.execute(_FIND_TOKEN, (digest,))
            found = await cursor.fetchone()
            if found is None:
                return False
            if found["revoked_at"] is None:
                await self._end(cursor, found["user_id"], found["session_id"])
        return True

    async def _end(self, cursor: Cursor, user_id: int, session_id: str) -> None:
        await cursor.execute("UPDATE sessions SET revoked_at = now() WHERE id = %s", (session_id,))
        await self._revoke_session(cursor, user_id, session_id)

    @staticmethod
    async def _insert_refresh_token(cursor: Cursor, session_id: str, digest: bytes) -> None:
        await cursor.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id) VALUES (%s, %s)",
            (digest, session_id),
        )

"""Emailed tokens in PostgreSQL: stored as digests, used once, sent at most once a cooldown."""

from __future__ import annotations

from psycopg import sql

from estore.users.models import NewToken, TokenPurpose, User
from estore.users.repository_base import USER_COLUMNS_OF_U, Cursor, user_from_row
from estore.users.repository_revocations import RevocationRecords

# One statement uses a token: of several concurrent uses of one token, exactly one gets a row.
_CONSUME_TOKEN = sql.SQL("""
    WITH used AS (
        UPDATE verification_tokens SET used_at = now()
        WHERE token_hash = %(digest)s AND purpose = %(purpose)s
          AND used_at IS NULL AND expires_at > now()
        RETURNING user_id
    )
""")
_VERIFY_EMAIL = sql.SQL(
    "{} UPDATE users u SET is_verified = true, updated_at = now()"
    " FROM used WHERE u.id = used.user_id RETURNING {}"
).format(_CONSUME_TOKEN, USER_COLUMNS_OF_U)
_RESET_PASSWORD = sql.SQL(
    "{} UPDATE users u SET hashed_password = %(hash)s, updated_at = now()"
    " FROM used WHERE u.id = used.user_id RETURNING {}"
).format(_CONSUME_TOKEN, USER_COLUMNS_OF_U)
# Tokens expired or used more than a day ago are deleted, a batch at a time, as new ones come;
# SKIP LOCKED lets concurrent inserts prune different rows, never waiting (or deadlocking) on them.
_PRUNE_DEAD_TOKENS = """
    DELETE FROM verification_tokens WHERE id IN (
        SELECT id FROM verification_tokens
        WHERE expires_at < now() - interval '1 day' OR used_at < now() - interval '1 day'
        LIMIT 100 FOR UPDATE SKIP LOCKED
    )
"""


class TokenRecords(RevocationRecords):
    """Verification and password-reset tokens."""

    async def add_token(self, user_id: int, token: NewToken, *, cooldown_seconds: int = 0) -> bool:
        """Store a token unless one of its purpose was made for the account within the cooldown."""
        async with self._transaction() as cursor:
            # The account's row lock makes concurrent requests for one address take turns, so
            # that only the first of them finds no recent token.
            await cursor.execute(
                "SELECT 1 AS found FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,)
            )
            if await cursor.fetchone() is None:
                return False
            await cursor.execute(
                "SELECT 1 AS recent FROM verification_tokens WHERE user_id = %s AND purpose = %s"
                " AND created_at > now() - make_interval(secs => %s) LIMIT 1",
                (user_id, str(token.purpose), cooldown_seconds),
            )
            if await cursor.fetchone() is not None:
                return False
            await self._insert_token(cursor, user_id, token)
            await cursor.execute(_PRUNE_DEAD_TOKENS)
        return True

    @staticmethod
    async def _insert_token(cursor: Cursor, user_id: int, token: NewToken) -> None:
        await cursor.execute(
            "INSERT INTO verification_tokens (user_id, token_hash, purpose, expires_at)"
            " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
            (user_id, token.digest, str(token.purpose), token.ttl_seconds),
        )

    async def verify_email(self, digest: bytes) -> User | None:
        """Use a verification token and mark its account verified; None if it is not usable."""
        async with self._transaction() as cursor:
            await cursor.execute(
                _VERIFY_EMAIL,
                {"digest": digest, "purpose": str(TokenPurpose.VERIFY_EMAIL)},
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        self._changed(row["id"])
        return user_from_row(row)

    async def reset_password(self, digest: bytes, password_hash: str) -> User | None:
        """Use a reset token and set the password; None if the token is not usable."""
        # The same transaction voids the account's other reset tokens, lifts its throttle, and
        # revokes its access tokens and sessions: whoever knew the old password is out.
        async with self._transaction() as cursor:
            await cursor.execute(
                _RESET_PASSWORD,
                {
                    "digest": digest,
                    "purpose": str(TokenPurpose.RESET_PASSWORD),
                    "hash": password_hash,
                },
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            user = user_from_row(row)
            await cursor.execute(
                "UPDATE verification_tokens SET used_at = now()"
                " WHERE user_id = %s AND purpose = %s AND used_at IS NULL",
                (user.id, str(TokenPurpose.RESET_PASSWORD)),
            )
            await cursor.execute("DELETE FROM login_failures WHERE email = %s", (user.email,))
            await self._revoke_user_tokens(cursor, user.id, end_sessions=True)
        self._changed(user.id)
        return user

    async def token_expired(self, digest: bytes, purpose: TokenPurpose) -> bool:
        """Whether an unused token with this digest exists but is past its expiry."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "SELECT 1 AS expired FROM verification_tokens WHERE token_hash = %s"
                " AND purpose = %s AND used_at IS NULL AND expires_at <= now()",
                (digest, str(purpose)),
            )
            return (await cursor.fetchone()) is not None

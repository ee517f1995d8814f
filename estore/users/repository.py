"""UserService's PostgreSQL access: the only place with SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from estore.users.errors import EmailAlreadyExists, StoreUnavailable
from estore.users.models import (
    Credentials,
    LoginFailures,
    NewToken,
    TokenPurpose,
    User,
    UserFilter,
)

_USER = sql.SQL("id, email, is_active, is_verified, is_admin, created_at, updated_at")
_USER_IN_U = sql.SQL(
    "u.id, u.email, u.is_active, u.is_verified, u.is_admin, u.created_at, u.updated_at"
)
_FLAG_COLUMNS = frozenset({"is_active", "is_admin"})
_PAGE_TOKEN_SECRET = "page_token"
_EMAIL_KEY = "users_email_lower_key"  # the unique index of migration 0001

# One statement uses a token: of several concurrent uses of one token, exactly one gets a row.
_CONSUME_TOKEN = sql.SQL("""
    WITH used AS (
        UPDATE verification_tokens SET used_at = now()
        WHERE token_hash = %(digest)s AND purpose = %(purpose)s
          AND used_at IS NULL AND expires_at > now()
        RETURNING user_id
    )
""")
_INSERT_USER = sql.SQL(
    "INSERT INTO users (email, hashed_password, is_admin, is_verified)"
    " VALUES (%s, %s, %s, %s) RETURNING {}"
).format(_USER)
_SELECT_USER = sql.SQL("SELECT {} FROM users WHERE id = %s").format(_USER)
_VERIFY_EMAIL = sql.SQL(
    "{} UPDATE users u SET is_verified = true, updated_at = now()"
    " FROM used WHERE u.id = used.user_id RETURNING {}"
).format(_CONSUME_TOKEN, _USER_IN_U)
_RESET_PASSWORD = sql.SQL(
    "{} UPDATE users u SET hashed_password = %(hash)s, updated_at = now()"
    " FROM used WHERE u.id = used.user_id RETURNING {}"
).format(_CONSUME_TOKEN, _USER_IN_U)
_MAKE_ADMIN = sql.SQL(
    "UPDATE users SET is_admin = true, is_verified = true, is_active = true,"
    " hashed_password = %s, updated_at = now() WHERE id = %s RETURNING {}"
).format(_USER)


def _user(row: Mapping[str, Any]) -> User:
    return User(**{name: row[name] for name in User.__dataclass_fields__})


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class UserRepository:
    """Users, emailed tokens, login failures and shared secrets in PostgreSQL."""

    # Every method maps a database that cannot be reached (or a pool that cannot hand out a
    # connection in time) to StoreUnavailable, so callers see UNAVAILABLE rather than a crash.

    def __init__(self, pool: AsyncConnectionPool[Any], *, timeout: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncCursor[DictRow]]:
        try:
            async with (
                self._pool.connection(timeout=self._timeout) as connection,
                connection.transaction(),
            ):
                yield connection.cursor(row_factory=dict_row)
        except psycopg.OperationalError as error:
            raise StoreUnavailable() from error

    async def ping(self) -> bool:
        """True when the database answers (the health probe)."""
        async with self._transaction() as cursor:
            await cursor.execute("SELECT 1 AS ok")
            return (await cursor.fetchone()) is not None

    async def create_user(
        self,
        email: str,
        password_hash: str,
        *,
        token: NewToken | None = None,
        is_admin: bool = False,
        is_verified: bool = False,
    ) -> User:
        """Insert an account (and its first token, atomically); EmailAlreadyExists if taken."""
        try:
            async with self._transaction() as cursor:
                await cursor.execute(_INSERT_USER, (email, password_hash, is_admin, is_verified))
                user = _user(await _one(cursor))
                if token is not None:
                    await self._insert_token(cursor, user.id, token)
                return user
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name != _EMAIL_KEY:
                raise
            raise EmailAlreadyExists() from None

    async def add_token(self, user_id: int, token: NewToken) -> None:
        """Store a new emailed token for the account."""
        async with self._transaction() as cursor:
            await self._insert_token(cursor, user_id, token)

    @staticmethod
    async def _insert_token(
        cursor: psycopg.AsyncCursor[DictRow], user_id: int, token: NewToken
    ) -> None:
        await cursor.execute(
            "INSERT INTO verification_tokens (user_id, token_hash, purpose, expires_at)"
            " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
            (user_id, token.digest, str(token.purpose), token.ttl_seconds),
        )

    async def get_user(self, user_id: int) -> User | None:
        """The account with this id, if any."""
        async with self._transaction() as cursor:
            await cursor.execute(_SELECT_USER, (user_id,))
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def get_credentials(
        self, *, email: str | None = None, user_id: int | None = None
    ) -> Credentials | None:
        """The account and its password hash, by (normalised) email or by id."""
        value: str | int
        if email is not None:
            where, value = sql.SQL("lower(email) = lower(%s)"), email
        elif user_id is not None:
            where, value = sql.SQL("id = %s"), user_id
        else:
            raise TypeError("give an email or a user id")
        query = sql.SQL("SELECT {}, hashed_password FROM users WHERE ").format(_USER)
        async with self._transaction() as cursor:
            await cursor.execute(query + where, (value,))
            row = await cursor.fetchone()
        return None if row is None else Credentials(_user(row), row["hashed_password"])

    async def verify_email(self, digest: bytes) -> User | None:
        """Use a verification token and mark its account verified; None if it is not usable."""
        async with self._transaction() as cursor:
            await cursor.execute(
                _VERIFY_EMAIL,
                {"digest": digest, "purpose": str(TokenPurpose.VERIFY_EMAIL)},
            )
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def reset_password(self, digest: bytes, password_hash: str) -> User | None:
        """Use a reset token and set the password; None if the token is not usable."""
        # The same transaction voids the account's other reset tokens and lifts its throttle.
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
            user = _user(row)
            await cursor.execute(
                "UPDATE verification_tokens SET used_at = now()"
                " WHERE user_id = %s AND purpose = %s AND used_at IS NULL",
                (user.id, str(TokenPurpose.RESET_PASSWORD)),
            )
            await cursor.execute("DELETE FROM login_failures WHERE email = %s", (user.email,))
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

    async def set_password(self, user_id: int, password_hash: str) -> None:
        """Replace the account's password hash."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "UPDATE users SET hashed_password = %s, updated_at = now() WHERE id = %s",
                (password_hash, user_id),
            )

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        """Set `is_active` / `is_admin` as given; None if there is no such account."""
        if not flags or not set(flags) <= _FLAG_COLUMNS:
            raise ValueError(f"only {sorted(_FLAG_COLUMNS)} can be set, not {sorted(flags)}")
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in sorted(flags)
        )
        query = sql.SQL(
            "UPDATE users SET {}, updated_at = now() WHERE id = %(user_id)s RETURNING {}"
        ).format(assignments, _USER)
        async with self._transaction() as cursor:
            await cursor.execute(query, {**flags, "user_id": user_id})
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def make_admin(self, user_id: int, password_hash: str) -> User:
        """Make an existing account an active, verified admin with this password."""
        async with self._transaction() as cursor:
            await cursor.execute(_MAKE_ADMIN, (password_hash, user_id))
            return _user(await _one(cursor))

    async def list_users(self, user_filter: UserFilter, after_id: int, limit: int) -> list[User]:
        """Up to `limit` accounts with ids above `after_id` that pass the filter, by id."""
        conditions: list[sql.Composable] = [sql.SQL("id > %(after)s")]
        for column in ("is_active", "is_verified", "is_admin"):
            if getattr(user_filter, column) is not None:
                conditions.append(
                    sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
                )
        if user_filter.email_prefix:
            conditions.append(sql.SQL("lower(email) LIKE %(prefix)s"))
        query = sql.SQL("SELECT {} FROM users WHERE {} ORDER BY id LIMIT %(limit)s").format(
            _USER, sql.SQL(" AND ").join(conditions)
        )
        params = {
            "after": after_id,
            "limit": limit,
            "prefix": _like_prefix(user_filter.email_prefix),
            "is_active": user_filter.is_active,
            "is_verified": user_filter.is_verified,
            "is_admin": user_filter.is_admin,
        }
        async with self._transaction() as cursor:
            await cursor.execute(query, params)
            return [_user(row) for row in await cursor.fetchall()]

    async def login_failures(self, email: str, window_seconds: int, limit: int) -> LoginFailures:
        """How many of the latest `limit` failures are in the window; when the oldest leaves it."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "SELECT count(*) AS count, COALESCE(EXTRACT(EPOCH FROM"
                "   min(at) + make_interval(secs => %(window)s) - now()), 0) AS retry_after"
                " FROM (SELECT at FROM login_failures WHERE email = %(email)s"
                "   AND at > now() - make_interval(secs => %(window)s)"
                "   ORDER BY at DESC LIMIT %(limit)s) AS recent",
                {"email": email, "window": window_seconds, "limit": limit},
            )
            row = await _one(cursor)
        return LoginFailures(int(row["count"]), float(row["retry_after"]))

    async def record_login_failure(self, email: str, window_seconds: int) -> None:
        """Count a failed sign-in for `email`, and forget failures older than the window."""
        async with self._transaction() as cursor:
            await cursor.execute("INSERT INTO login_failures (email) VALUES (%s)", (email,))
            await cursor.execute(
                "DELETE FROM login_failures WHERE at < now() - make_interval(secs => %s)",
                (window_seconds,),
            )

    async def shared_secret(self, candidate: bytes) -> bytes:
        """The page-token secret every instance shares: `candidate` if none was stored yet."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "INSERT INTO service_secrets (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (_PAGE_TOKEN_SECRET, candidate),
            )
            await cursor.execute(
                "SELECT value FROM service_secrets WHERE name = %s", (_PAGE_TOKEN_SECRET,)
            )
            return bytes((await _one(cursor))["value"])


async def _one(cursor: psycopg.AsyncCursor[DictRow]) -> DictRow:
    row = await cursor.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row

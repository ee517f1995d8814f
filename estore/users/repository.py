"""UserService's PostgreSQL access: the only place with SQL."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from estore.users.errors import EmailAlreadyExists
from estore.users.models import Credentials, NewToken, User, UserFilter
from estore.users.repository_base import USER_COLUMNS, USER_COLUMNS_OF_U, fetch_one, user_from_row
from estore.users.repository_logins import LoginAttempts
from estore.users.repository_sessions import SessionRecords
from estore.users.repository_tokens import TokenRecords

_FLAG_COLUMNS = frozenset({"is_active", "is_admin"})
_PAGE_TOKEN_SECRET = "page_token"
_EMAIL_KEY = "users_email_lower_key"  # the unique index of migration 0001

_INSERT_USER = sql.SQL(
    "INSERT INTO users (email, hashed_password, is_admin, is_verified)"
    " VALUES (%s, %s, %s, %s) RETURNING {}"
).format(USER_COLUMNS)
# Rendered once: GetCurrentUser runs it on every call. Its columns are User's fields, in order.
_SELECT_USER = sql.SQL("SELECT {} FROM users WHERE id = %s").format(USER_COLUMNS).as_bytes()
_MAKE_ADMIN = sql.SQL(
    "UPDATE users SET is_admin = true, is_verified = true, is_active = true,"
    " hashed_password = %s, updated_at = now() WHERE id = %s RETURNING {}"
).format(USER_COLUMNS)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class UserRepository(SessionRecords, TokenRecords, LoginAttempts):
    """Users, sessions, revocations, emailed tokens, login attempts and shared secrets."""

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
                user = user_from_row(await fetch_one(cursor))
                if token is not None:
                    await self._insert_token(cursor, user.id, token)
                return user
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name != _EMAIL_KEY:
                raise
            raise EmailAlreadyExists() from None

    async def get_user(self, user_id: int, *, fresh: bool = False) -> User | None:
        """The account with this id, if any: this process's copy unless `fresh` is asked for."""
        users = self._users
        if users is None or fresh:
            row = await self._read_row(_SELECT_USER, (user_id,))
            return None if row is None else User(*row)
        user = users.get(user_id)
        if user is not None:
            return user
        epoch = users.epoch
        row = await self._read_row(_SELECT_USER, (user_id,))
        if row is None:
            return None
        user = User(*row)
        users.put(user, epoch)
        return user

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
        query = sql.SQL("SELECT {}, hashed_password FROM users WHERE ").format(USER_COLUMNS)
        async with self._read() as cursor:
            await cursor.execute(query + where, (value,))
            row = await cursor.fetchone()
        return None if row is None else Credentials(user_from_row(row), row["hashed_password"])

    async def set_password(self, user_id: int, password_hash: str) -> None:
        """Replace the account's password hash, revoking its access tokens and sessions."""
        async with self._transaction() as cursor:
            await cursor.execute(
                "UPDATE users SET hashed_password = %s, updated_at = now() WHERE id = %s",
                (password_hash, user_id),
            )
            if cursor.rowcount:
                await self._revoke_user_tokens(cursor, user_id, end_sessions=True)
        self._changed(user_id)

    async def rehash_password(self, user_id: int, old_hash: str, new_hash: str) -> None:
        """Store the same password hashed anew, unless the password changed since `old_hash`."""
        # Not an account change a client would see, so updated_at stays.
        async with self._transaction() as cursor:
            await cursor.execute(
                "UPDATE users SET hashed_password = %s WHERE id = %s AND hashed_password = %s",
                (new_hash, user_id, old_hash),
            )

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        """Set `is_active` / `is_admin` as given; None if there is no such account.

        Taking a power away revokes in the same transaction: a deactivation, every access token
        and session of the account; a demotion, its access tokens (its sessions then refresh
        into tokens without admin powers).
        """
        if not flags or not set(flags) <= _FLAG_COLUMNS:
            raise ValueError(f"only {sorted(_FLAG_COLUMNS)} can be set, not {sorted(flags)}")
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in sorted(flags)
        )
        query = sql.SQL(
            "UPDATE users u SET {}, updated_at = now() FROM (SELECT id, is_active, is_admin"
            " FROM users WHERE id = %(user_id)s FOR UPDATE) AS was WHERE u.id = was.id"
            " RETURNING {}, was.is_active AS was_active, was.is_admin AS was_admin"
        ).format(assignments, USER_COLUMNS_OF_U)
        async with self._transaction() as cursor:
            await cursor.execute(query, {**flags, "user_id": user_id})
            row = await cursor.fetchone()
            if row is None:
                return None
            deactivated = row["was_active"] and not row["is_active"]
            if deactivated or (row["was_admin"] and not row["is_admin"]):
                await self._revoke_user_tokens(cursor, user_id, end_sessions=deactivated)
        self._changed(user_id)
        return user_from_row(row)

    async def make_admin(self, user_id: int, password_hash: str) -> User:
        """Make an existing account an active, verified admin with this password.

        The password is replaced, so its access tokens and sessions are revoked as by a change.
        """
        async with self._transaction() as cursor:
            await cursor.execute(_MAKE_ADMIN, (password_hash, user_id))
            user = user_from_row(await fetch_one(cursor))
            await self._revoke_user_tokens(cursor, user_id, end_sessions=True)
        self._changed(user_id)
        return user

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
            USER_COLUMNS, sql.SQL(" AND ").join(conditions)
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
            return [user_from_row(row) for row in await cursor.fetchall()]

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
            return bytes((await fetch_one(cursor))["value"])

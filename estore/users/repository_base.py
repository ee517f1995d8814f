"""What UserService's repository classes share: transactions on one pool, and account rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from estore.users.errors import StoreUnavailable
from estore.users.models import User

USER_COLUMNS = sql.SQL("id, email, is_active, is_verified, is_admin, created_at, updated_at")
USER_COLUMNS_OF_U = sql.SQL(
    "u.id, u.email, u.is_active, u.is_verified, u.is_admin, u.created_at, u.updated_at"
)

Cursor = psycopg.AsyncCursor[DictRow]


def user_from_row(row: Mapping[str, Any]) -> User:
    """The account in a row selected with USER_COLUMNS."""
    return User(**{name: row[name] for name in User.__dataclass_fields__})


async def fetch_one(cursor: Cursor) -> DictRow:
    """The statement's row; LookupError when it returned none."""
    row = await cursor.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row


class Repository:
    """A PostgreSQL pool and a way to run one transaction on it."""

    # Every method maps a database that cannot be reached (or a pool that cannot hand out a
    # connection in time) to StoreUnavailable, so callers see UNAVAILABLE rather than a crash.

    def __init__(self, pool: AsyncConnectionPool[Any], *, timeout: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Cursor]:
        try:
            async with (
                self._pool.connection(timeout=self._timeout) as connection,
                connection.transaction(),
            ):
                yield connection.cursor(row_factory=dict_row)
        except psycopg.OperationalError as error:
            raise StoreUnavailable() from error

"""What UserService's repository classes share: transactions on one pool, and account rows."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from estore.users.errors import StoreUnavailable
from estore.users.models import User
from estore.users.user_cache import UserCache

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

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        timeout: float = 5.0,
        users: UserCache | None = None,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        # Accounts kept in the process; every method that changes one calls _changed after
        # its commit, so this process reads its own writes (other processes hear of them).
        self._users = users
        # The hot path's cursor on each pooled connection, by id(connection) (see _cursor_on).
        self._cursors: dict[int, psycopg.AsyncCursor[Any]] = {}

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

    def _changed(self, user_id: int) -> None:
        """The account changed (committed): drop this process's copy at once."""
        if self._users is not None:
            self._users.forget(user_id)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Cursor]:
        """A cursor for one read-only statement: no BEGIN / COMMIT round trips around it (the
        pool's connections are in autocommit mode; one statement reads one snapshot)."""
        try:
            async with self._pool.connection(timeout=self._timeout) as connection:
                yield connection.cursor(row_factory=dict_row)
        except psycopg.OperationalError as error:
            raise StoreUnavailable() from error

    async def _read_row(self, query: bytes, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The one row (or none) of one read-only statement, as a tuple: the hot path's read."""
        # `query` is rendered once (no sql.Composed joined on every call) and prepared at its
        # first use, and the row stays a tuple (no dict built and read back): about 0.02 ms
        # less CPU per GetCurrentUser. getconn/putconn rather than pool.connection(), which
        # also enters the connection as a context whose exit commits (a lock and a wait) even
        # in autocommit; putconn still rolls back or drops a connection left in a bad state.
        try:
            connection = await self._pool.getconn(timeout=self._timeout)
            try:
                cursor = self._cursor_on(connection)
                await cursor.execute(query, params, prepare=True)
                row: tuple[Any, ...] | None = await cursor.fetchone()
                return row
            finally:
                await self._pool.putconn(connection)
        except psycopg.OperationalError as error:
            raise StoreUnavailable() from error

    def _cursor_on(self, connection: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
        """`connection`'s cursor for _read_row: made at its first read there, then reused."""
        # A cursor made per call (connection.execute) starts with empty caches: it looks up the
        # parameter's dumper and every column's loader again, about 0.014 ms of CPU per read.
        # Reuse is safe: a connection is held by one call at a time, and execute() resets the
        # cursor. A cursor keeps its connection alive, so while it is here no other connection
        # can take its id; those of closed connections (the pool replaced them) go when a new
        # connection turns up.
        cursor = self._cursors.get(id(connection))
        if cursor is None:
            for key, old in list(self._cursors.items()):
                if old.connection.closed:
                    del self._cursors[key]
            cursor = self._cursors[id(connection)] = connection.cursor()
        return cursor


class IdleCheck:
    """The pool's `check`: checks a connection only when it was last handed out a while ago."""

    # Checking every connection handed out costs a round trip per call; one handed out moments
    # ago worked until it came back, later still. A database that went away in between is still
    # seen: the call fails UNAVAILABLE, the breaker opens and the probe renews the pool.
    # The time is noted when a connection goes out, not when it comes back: a `reset` callback
    # would make psycopg_pool return every connection through its worker task (a task hop per
    # call, about 0.015 ms of CPU), and going-out time is the earlier, so this checks no less.

    def __init__(self, idle_seconds: float = 1.0) -> None:
        self._idle_seconds = idle_seconds
        self._handed_out: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def check(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Raise if `connection` was last handed out too long ago and no longer answers."""
        now = time.monotonic()
        last = self._handed_out.get(connection)
        if last is None or now - last >= self._idle_seconds:
            await AsyncConnectionPool.check_connection(connection)
        self._handed_out[connection] = now


class DatabaseProbe:
    """The health probe: `SELECT 1` on a connection of its own, outside the pool."""

    # Outside the pool because a busy pool is not a database down, and a database down must be
    # seen at once, not after a wait for a pooled connection.

    def __init__(self, url: str, pool: AsyncConnectionPool[Any], *, connect_timeout: int = 2):
        self._url = url
        self._pool = pool
        self._connect_timeout = connect_timeout
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._down = False

    async def __call__(self) -> bool:
        """True when the database answers `SELECT 1`."""
        try:
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=self._connect_timeout
                )
            await self._connection.execute("SELECT 1")
            if self._down:
                await self._renew_pool()
        except BaseException:  # cancelled mid-query too: the connection's state is unknown
            self._down = True
            await self.close()
            raise
        self._down = False
        return True

    async def _renew_pool(self) -> None:
        """Replace the pool's dead connections and wait until it serves again."""
        # After an outage the pool's idle connections died with the old server, and it may be
        # in the middle of a reconnection backoff; calls come back as soon as the probe says up.
        await self._pool.check()
        async with self._pool.connection() as connection:
            await connection.execute("SELECT 1")

    async def close(self) -> None:
        """Close the connection (the next probe opens a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

"""Accounts by id, held in the process while PostgreSQL tells it of every change to them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from estore.common.tasks import stop_task
from estore.users.models import User

log = logging.getLogger("estore.users")

# Migration 0005's triggers notify this channel with the changed account's id on every UPDATE
# or DELETE of a users row, and with ALL_USERS on a TRUNCATE; NOTIFY is sent at commit.
CHANNEL = "estore_users_changed"
ALL_USERS = "*"
APPLICATION_NAME = "estore-users-cache"  # how its connection shows in pg_stat_activity


class UserCache:
    """Accounts read by id, kept only while a LISTEN connection follows every change to them.

    GetCurrentUser reads the caller's account on every call; from here it costs no round trip.
    Every process holds its own copy: a change made by another process shows here once its
    notification arrives (commit order, usually within a millisecond); one made by this process
    shows at once (its repository calls `forget` after committing). While the LISTEN connection
    is down, nothing is kept and every read goes to PostgreSQL, so a missed notification never
    leaves a stale account behind.
    """

    def __init__(
        self,
        url: str,
        *,
        max_entries: int = 10_000,
        ping_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        connect_timeout: int = 2,
    ) -> None:
        self._url = url
        self._max_entries = max_entries
        self._ping_seconds = ping_seconds
        self._retry_seconds = retry_seconds
        self._connect_timeout = connect_timeout
        self._users: dict[int, User] = {}
        # Raised on every change heard of: a read that began before one may not store its row.
        self._epoch = 0
        self._live = False
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """True while changes are being followed (and accounts kept)."""
        return self._live

    @property
    def epoch(self) -> int:
        """Take it before reading an account; `put` needs it."""
        return self._epoch

    def get(self, user_id: int) -> User | None:
        """The kept account, if any."""
        return self._users.get(user_id)

    def put(self, user: User, epoch: int) -> None:
        """Keep `user`, read after `epoch` was taken, unless a change was heard of since."""
        if not self._live or epoch != self._epoch:
            return
        if len(self._users) >= self._max_entries and user.id not in self._users:
            del self._users[next(iter(self._users))]  # the longest kept
        self._users[user.id] = user

    def forget(self, user_id: int) -> None:
        """Drop the account: it changed (or may have)."""
        self._epoch += 1
        self._users.pop(user_id, None)

    def forget_all(self) -> None:
        """Drop every account."""
        self._epoch += 1
        self._users.clear()

    async def start(self, wait_seconds: float = 5.0) -> None:
        """Start following changes; waits a moment for the first LISTEN (works without it)."""
        self._task = asyncio.create_task(self._follow(), name="users cache")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait_seconds)

    async def stop(self) -> None:
        """Stop following; nothing is kept afterwards."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
        self._go_blind()

    async def _follow(self) -> None:
        was_down = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=self._connect_timeout,
                    application_name=APPLICATION_NAME,
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    if not await _announced(connection):
                        raise LookupError("migration 0005's trigger on users is missing")
                    self.forget_all()  # whatever changed while nobody listened
                    self._live = True
                    self._listening.set()
                    if was_down:
                        log.info("users cache: following changes again")
                    await self._hear(connection)
            except Exception as error:  # whatever it was, the cache stays off until it follows
                if not was_down:
                    log.warning("users cache: cannot follow changes, reading through: %s", error)
                was_down = True
            finally:
                self._go_blind()
            await asyncio.sleep(self._retry_seconds)

    async def _hear(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Apply notifications until the connection fails; it is pinged every ping_seconds."""
        while True:
            async for notice in connection.notifies(timeout=self._ping_seconds):
                try:
                    self.forget(int(notice.payload))
                except ValueError:  # ALL_USERS, or a word this version does not know
                    self.forget_all()
            # A connection cut without a word (no FIN) would leave the cache stale: prove it alive.
            ping = asyncio.ensure_future(connection.execute("SELECT 1"))
            ping.add_done_callback(_retrieved)
            done, _ = await asyncio.wait({ping}, timeout=self._ping_seconds)
            if not done:
                # Blind at once: psycopg's cancellation of the query can take seconds more (a
                # cancel request on a new connection, then a wait for the dead one's answer).
                self._go_blind()
                ping.cancel()
                raise TimeoutError("the users cache's connection did not answer its ping")
            ping.result()

    def _go_blind(self) -> None:
        self._live = False
        self.forget_all()


async def _announced(connection: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the users table's changes are announced here (a restored older dump drops the
    trigger until `estore migrate`; followed without it, the cache would never hear a change)."""
    cursor = await connection.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'users_changed'"
        " AND tgrelid = to_regclass('users') AND tgenabled <> 'D'"
    )
    return await cursor.fetchone() is not None


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A ping given up on ends later, in error: its outcome is read, so nothing is logged."""
    if not task.cancelled():
        task.exception()

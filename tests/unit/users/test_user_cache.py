"""The accounts cache's rules: what it keeps, what it refuses, and its bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from estore.users.models import User
from estore.users.user_cache import UserCache


def _user(user_id: int, email: str = "ana@x.io") -> User:
    return User(user_id, email, True, True, False, datetime(2026, 1, 1, tzinfo=UTC), None)


def _following(max_entries: int = 10) -> UserCache:
    cache = UserCache("postgresql://unused", max_entries=max_entries)
    cache._live = True  # as if its LISTEN connection were up
    return cache


def test_an_account_read_is_kept_until_it_changes() -> None:
    cache = _following()
    cache.put(_user(1), cache.epoch)
    assert cache.get(1) == _user(1)
    cache.forget(1)
    assert cache.get(1) is None


def test_a_read_that_began_before_a_change_is_not_kept() -> None:
    # The row may predate the change (read from an older snapshot): keeping it would keep it stale.
    cache = _following()
    epoch = cache.epoch
    cache.forget(2)  # any account's change
    cache.put(_user(1), epoch)
    assert cache.get(1) is None
    cache.put(_user(1), cache.epoch)
    assert cache.get(1) == _user(1)


def test_nothing_is_kept_while_changes_are_not_followed() -> None:
    cache = UserCache("postgresql://unused")
    assert not cache.live
    cache.put(_user(1), cache.epoch)
    assert cache.get(1) is None


def test_the_longest_kept_account_goes_first_at_the_bound() -> None:
    cache = _following(max_entries=2)
    for user_id in (1, 2, 3):
        cache.put(_user(user_id), cache.epoch)
    assert [cache.get(n) is not None for n in (1, 2, 3)] == [False, True, True]
    cache.put(_user(2, "new@x.io"), cache.epoch)  # replacing one evicts nothing
    assert cache.get(2) == _user(2, "new@x.io")
    assert cache.get(3) is not None


def test_forget_all_drops_every_account() -> None:
    cache = _following()
    cache.put(_user(1), cache.epoch)
    cache.put(_user(2), cache.epoch)
    cache.forget_all()
    assert cache.get(1) is None
    assert cache.get(2) is None


class _Hung:
    """A LISTEN connection cut without a word: nothing arrives, and a query never answers
    (and, cancelled, takes its time, as psycopg's cancel request on a new connection does)."""

    async def notifies(self, **options: float) -> AsyncIterator[object]:
        quiet: tuple[object, ...] = ()
        for notice in quiet:
            yield notice

    async def execute(self, query: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(5)
            raise


async def test_a_connection_that_stops_answering_turns_the_cache_off_within_its_ping() -> None:
    cache = UserCache("postgresql://unused", ping_seconds=0.1)
    cache._live = True
    cache.put(_user(1), cache.epoch)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await cache._hear(cast(Any, _Hung()))
    assert time.monotonic() - started < 1  # not after the query's slow cancellation
    assert not cache.live
    assert cache.get(1) is None

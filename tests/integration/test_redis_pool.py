"""The Redis pool: a wait for a busy pool ends in PoolExhausted, a refused connection does not.

Both on a single Redis and on a Redis Cluster (whose client redis-py does not bound by itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError

from estore.common.redis import connect_redis, dedicated_redis
from estore.common.status import POOL_WAIT, STORE_DOWN
from estore.embedded.ports import free_port
from tests.helpers import on_both_redis_kinds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_redis_kinds(metafunc)


async def test_a_busy_pool_makes_a_call_wait_a_bounded_time(redis_url: str) -> None:
    redis = connect_redis(redis_url, "X", max_connections=2, pool_timeout=0.2)
    outside = dedicated_redis(redis)
    try:

        async def hold() -> None:
            await redis.blpop(["nothing"], timeout=3)

        # Two calls hold both connections, blocked on a list that stays empty for a while.
        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        with pytest.raises(POOL_WAIT) as caught:
            await redis.get("k")
        assert time.perf_counter() - started < 2.0
        assert isinstance(caught.value, POOL_WAIT)
        assert isinstance(caught.value, STORE_DOWN)  # UNAVAILABLE to the caller
        assert await outside.ping()  # a dedicated connection is not held up by the pool
        await outside.lpush("nothing", "a", "b")
        await asyncio.gather(*holders)
        assert await redis.get("k") is None  # the pool serves again
    finally:
        await outside.aclose()
        await redis.aclose()


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
async def test_a_refused_connection_is_a_store_down_not_a_busy_pool(scheme: str) -> None:
    redis = connect_redis(f"{scheme}://127.0.0.1:{free_port()}", "X", pool_timeout=0.2)
    try:
        with pytest.raises(ConnectionError) as caught:
            await redis.get("k")
        assert not isinstance(caught.value, POOL_WAIT)
    finally:
        await redis.aclose()


@pytest.mark.single_redis  # the fast path is the single Redis pool's (WaitingPool)
async def test_a_free_connection_is_taken_directly_and_a_busy_pool_still_queues_calls(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    queue = BlockingConnectionPool.get_connection

    async def counted(pool: BlockingConnectionPool, *args: Any, **kwargs: Any) -> Any:
        queued.append("queued")
        return await queue(pool, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(BlockingConnectionPool, "get_connection", counted)
    redis = connect_redis(redis_url, "X", max_connections=1, pool_timeout=2.0)
    outside = dedicated_redis(redis)
    try:
        assert await redis.get("k") is None  # the first call makes the connection: queued
        for _ in range(5):
            assert await redis.get("k") is None  # a free connection: taken directly
        assert len(queued) == 1

        async def call(command: Awaitable[Any]) -> Any:
            return await command

        holder = asyncio.create_task(call(redis.blpop(["waits"], timeout=3)))
        await asyncio.sleep(0.1)
        waiters = [asyncio.create_task(call(redis.get("k"))) for _ in range(2)]  # busy: queue
        await asyncio.sleep(0.1)
        arrival = asyncio.create_task(call(redis.get("k")))  # one is waiting: this one queues
        await asyncio.sleep(0.1)
        assert len(queued) == 4
        await outside.lpush("waits", "x")
        assert tuple(await holder) == (b"waits", b"x")
        assert await asyncio.gather(*waiters, arrival) == [None, None, None]
        assert redis.connection_pool._waiting == 0  # type: ignore[union-attr]
    finally:
        await outside.aclose()
        await redis.aclose()

"""The cluster client through a failover: a clear store-down error in the window, then the
promoted replica, and no command run twice (it never retries one that may have run)."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import ConnectionError

from estore.common.redis import connect_redis
from estore.common.redis_cluster import BoundedCluster
from estore.common.status import STORE_DOWN
from estore.embedded.ports import free_port
from estore.embedded.redis_cluster import NODE_TIMEOUT_MS, EmbeddedRedisCluster

KEY = "{failover}:log"
# Appends the call's id: an id found twice is a script that ran twice.
APPEND = "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])"
FLOW_BOUND_SECONDS = NODE_TIMEOUT_MS / 1000 + 5


async def test_a_failover_fails_calls_clearly_then_reaches_the_promoted_replica(
    own_cluster: EmbeddedRedisCluster,
) -> None:
    redis = connect_redis(own_cluster.url(), "test")
    append = redis.register_script(APPEND)
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    try:
        for number in range(50):
            await append(keys=[KEY], args=[f"before-{number}"])
            acknowledged.append(f"before-{number}")
        owner = own_cluster.master_of(KEY)
        own_cluster.wait_replicated(owner)  # about the client: no write in flight to lose
        own_cluster.kill(owner)
        killed = time.monotonic()
        recovered = None
        number = 0
        while recovered is None and time.monotonic() - killed < FLOW_BOUND_SECONDS + 10:
            call = f"after-{number}"
            number += 1
            try:
                await append(keys=[KEY], args=[call])
            except Exception as error:  # what a service maps to UNAVAILABLE, or a bug
                failures.append(error)
                await asyncio.sleep(0.05)
                continue
            acknowledged.append(call)
            recovered = time.monotonic() - killed
        log = [
            item if isinstance(item, str) else item.decode()
            for item in await redis.lrange(KEY, 0, -1)
        ]
    finally:
        await redis.aclose()

    kinds = sorted({type(error).__name__ for error in failures})
    print(f"\ncluster client: served again {recovered} s after the kill; failed: {kinds}")
    assert recovered is not None, "the client never reached the promoted replica"
    assert recovered <= FLOW_BOUND_SECONDS, recovered
    unclear = [repr(error) for error in failures if not isinstance(error, STORE_DOWN)]
    assert not unclear, unclear
    assert len(log) == len(set(log)), "a call ran twice"
    assert set(acknowledged) <= set(log), "an acknowledged call was lost"


async def test_a_client_closed_after_a_failed_command_leaves_no_connection_open(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    redis = connect_redis(redis_cluster.url(), "test")
    assert isinstance(redis, BoundedCluster)
    await redis.ping(target_nodes=BoundedCluster.PRIMARIES)
    dead = ClusterNode("127.0.0.1", free_port())
    with pytest.raises(ConnectionError):  # as the probe's PING meets a master that died
        await redis.ping(target_nodes=dead)
    await redis.aclose()
    still_open = [
        node.name
        for node in redis.get_nodes()
        for connection in node._connections
        if connection.is_connected
    ]
    assert not still_open


async def test_a_reset_from_inside_a_command_leaves_other_calls_alone(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    redis = connect_redis(redis_cluster.url(), "test")
    assert isinstance(redis, BoundedCluster)
    try:
        waiting = asyncio.ensure_future(redis.blpop(["{reset}:list"], timeout=3))
        await asyncio.sleep(0.3)
        async with redis.permit():  # as redis-py resets the client after CLUSTERDOWN
            await redis.aclose()
        await redis.rpush("{reset}:list", "a")
        assert tuple(await waiting or ()) == (b"{reset}:list", b"a")  # not closed under it
    finally:
        await redis.aclose()


async def test_idle_connections_closed_under_busy_calls_fail_them_as_store_down(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    # What a failover does to a busy client: each failed command closes its node's idle
    # connections, racing the calls that are taking them.
    redis = connect_redis(redis_cluster.url(), "test")
    assert isinstance(redis, BoundedCluster)
    failures: list[Exception] = []
    resetting = True

    async def reset() -> None:
        while resetting:
            for node in redis.get_nodes():
                await node.disconnect_free_connections()
            await asyncio.sleep(0)

    async def call() -> None:
        for _ in range(100):
            try:
                await redis.get("{race}:k")
            except Exception as error:  # each failure is what the test counts
                failures.append(error)

    try:
        await redis.set("{race}:k", 1)
        resetter = asyncio.create_task(reset())
        await asyncio.gather(*(call() for _ in range(20)))
        resetting = False
        await resetter
    finally:
        await redis.aclose()
    unclear = {type(error).__name__ for error in failures if not isinstance(error, STORE_DOWN)}
    assert not unclear  # AttributeError before: INTERNAL to a client

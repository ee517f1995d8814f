"""Redis connections for the Redis-backed services."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from estore.common.config import ConfigError
from estore.common.metrics import Sample
from estore.common.redis_cluster import (
    BoundedCluster,
    NotACluster,
    cluster_options,
    is_cluster_url,
)
from estore.common.redis_packing import hiredis_packing

log = logging.getLogger("estore.redis")
# What connect_redis gives: a client of one Redis, or of a Redis Cluster (redis+cluster://).
RedisClient: TypeAlias = Redis | BoundedCluster

SOCKET_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    "health_check_interval": 10,
}


class PoolExhausted(ConnectionError):
    """Every pooled connection stayed busy for the whole wait: the store is busy, not down."""


class WaitingPool(BlockingConnectionPool):
    """A bounded pool where a call waits a bounded time for a connection (then PoolExhausted)."""

    # redis-py's blocking pool takes a Condition, a timeout and two context managers for every
    # command, even with a connection free: ~20 us of a command's ~85 us of client CPU here.
    # With one free and no call waiting, the connection is taken directly (and still checked,
    # as redis-py does); while any call waits, every call queues behind it as in redis-py's pool.

    def __init__(
        self, *, connection_class: type[AbstractConnection] = Connection, **options: Any
    ) -> None:
        super().__init__(connection_class=hiredis_packing(connection_class, options), **options)
        self._waiting = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if self._available_connections and not self._waiting and not self._in_maintenance:
            connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
            try:
                await self.ensure_connection(connection)
            except BaseException:
                await self.release(connection)
                raise
            return connection
        self._waiting += 1
        try:
            return await self._wait_for_connection(*args, **kwargs)
        finally:
            self._waiting -= 1

    async def _wait_for_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        try:
            connection: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
                *args, **kwargs
            )
        except ConnectionError as error:
            # redis-py raises a plain ConnectionError for a wait that timed out, as for a
            # refused connection; only the first means "busy" rather than "down".
            if isinstance(error.__cause__, TimeoutError):
                raise PoolExhausted("no Redis connection became free in time") from error
            raise
        return connection


def connect_redis(
    url: str | None, variable: str, *, max_connections: int = 50, pool_timeout: float = 2.0
) -> RedisClient:
    """A client for `url` on a bounded pool with a bounded wait; ConfigError if it is unset.

    A `redis+cluster://` URL gives a cluster client, bounded alike (estore.common.redis_cluster).
    """
    if not url:
        raise ConfigError(
            f"{variable} (or ESTORE_REDIS_URL) is not set (or use `estore up`, which runs its own)"
        )
    if is_cluster_url(url):
        # No retries of a failed command, as on a single Redis: a script that ran before its
        # reply was lost must not run again, and a call must not outlast its deadline. A
        # redirect (MOVED, ASK) is still followed, and the next call re-reads the layout.
        no_retries = Retry(NoBackoff(), 0)
        options = SOCKET_OPTIONS | {"max_connections": max_connections, "retry": no_retries}
        return BoundedCluster(pool_timeout=pool_timeout, **options | cluster_options(url, variable))
    pool = WaitingPool.from_url(
        url, max_connections=max_connections, timeout=pool_timeout, **SOCKET_OPTIONS
    )
    return Redis.from_pool(pool)


def dedicated_redis(redis: RedisClient) -> RedisClient:
    """A client on a connection of its own to the same server as `redis`, outside its pool."""
    if isinstance(redis, BoundedCluster):
        return redis.dedicated()
    shared = redis.connection_pool
    pool = WaitingPool(
        connection_class=shared.connection_class,
        max_connections=1,
        timeout=SOCKET_OPTIONS["socket_timeout"],  # its one user never waits: never for ever
        **shared.connection_kwargs,
    )
    return Redis.from_pool(pool)


class RedisProbe:
    """The health probe: PING on a connection of its own, outside the service's pool."""

    # Outside the pool: a busy pool is not a Redis down. After an outage the pool's idle
    # connections died with the old server, and each would fail one call: they are renewed.
    # A cluster answers when every master does. Each new connection first checks that the
    # URL's form matches the server (a plain URL to a cluster node would answer PING, then
    # refuse every call with MOVED): a mismatch keeps the service NOT_SERVING.

    def __init__(self, pooled: RedisClient, variable: str = "ESTORE_REDIS_URL") -> None:
        self._pooled = pooled
        self._variable = variable
        self._dedicated: RedisClient | None = None
        self._down = False

    async def __call__(self) -> bool:
        """True when Redis answers PING (every master of a cluster)."""
        try:
            if self._dedicated is None:
                self._dedicated = dedicated_redis(self._pooled)
                await check_topology(self._dedicated, self._variable)
            await _ping(self._dedicated)
            if self._down:
                await _renew(self._pooled)
        except ConfigError as error:
            log.error("%s", error)
            self._down = True
            await self.close()
            raise
        except BaseException:  # cancelled mid-command too: start afresh next time
            self._down = True
            await self.close()
            raise
        self._down = False
        return True

    async def close(self) -> None:
        """Close the probe's connection (the next probe opens a new one)."""
        dedicated, self._dedicated = self._dedicated, None
        if dedicated is not None:
            await dedicated.aclose()


async def _ping(redis: RedisClient) -> None:
    if isinstance(redis, BoundedCluster):
        await redis.ping(target_nodes=BoundedCluster.PRIMARIES)
    else:
        await redis.ping()


async def _renew(redis: RedisClient) -> None:
    """Drop the idle connections of `redis` (they died with the server it reached before)."""
    if isinstance(redis, BoundedCluster):
        for node in redis.get_nodes():
            await node.disconnect_free_connections()
    else:
        await redis.connection_pool.disconnect(inuse_connections=False)


async def check_topology(redis: RedisClient, variable: str) -> None:
    """ConfigError when the URL's form does not match the server it reaches.

    A `redis://` URL naming a node of a Redis Cluster, or a `redis+cluster://` URL naming a
    Redis that is not one. Connection failures pass through (the store may be down now).
    """
    if isinstance(redis, BoundedCluster):
        try:
            await redis.initialize()
        except NotACluster as error:
            raise ConfigError(
                f"{variable} names a Redis Cluster (redis+cluster://) but the server is not"
                f" one: {error}; use redis://host:port for a single Redis"
            ) from None
        return
    try:
        info = await redis.info("cluster")
    except ResponseError as refused:  # an ACL without @dangerous refuses INFO: no check then
        log.info("cannot check whether %s names a cluster node: %s", variable, refused)
        return
    if info.get("cluster_enabled"):
        raise ConfigError(
            f"{variable} names a node of a Redis Cluster with a plain redis:// URL; use"
            " redis+cluster://host:port,host:port (docs/operations.md, Redis Cluster)"
        )


async def check_topology_at_start(redis: RedisClient, variable: str) -> None:
    """check_topology, closing the client on a mismatch; a store down now is left to the probe."""
    try:
        await check_topology(redis, variable)
    except ConfigError:
        await redis.aclose()
        raise
    except (ConnectionError, RedisTimeout, OSError):
        log.warning("cannot reach Redis at start (%s); serving once it answers", variable)


def queue_script(pipe: Any, sha: str, keys: Sequence[str], args: Sequence[Any]) -> None:
    """Queue EVALSHA of a loaded script in a pipeline of either client.

    redis-py's cluster pipeline refuses its `evalsha` method by name, a guard from before it
    routed scripts by their keys; the command itself is routed by its first key like any other
    (every key of one script shares a slot), and a missing script still answers NoScriptError.
    """
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)


def text(value: object) -> str:
    """A Redis reply value as text (replies are bytes unless decode_responses is set)."""
    return value.decode() if isinstance(value, bytes) else str(value)


async def shared_secret(redis: RedisClient, key: str, configured: str | None = None) -> bytes:
    """A secret every instance agrees on: the configured one, else one stored once in Redis."""
    if configured:
        return configured.encode()
    await redis.set(key, secrets.token_hex(32), nx=True)
    return text(await redis.get(key)).encode()


def connection_samples(redis: RedisClient) -> list[Sample]:
    """How many of the client's Redis connections are idle and in use (over every node)."""
    if isinstance(redis, BoundedCluster):
        idle, used = redis.connection_counts()
    else:
        counts = redis.connection_pool.get_connection_count()
        idle, used = (count for count, _ in counts)
    help_text = "Redis client connections, by state"
    return [
        Sample("estore_redis_connections", help_text, idle, {"state": "idle"}),
        Sample("estore_redis_connections", help_text, used, {"state": "in_use"}),
    ]

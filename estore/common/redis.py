"""Redis connections for the Redis-backed services."""

from __future__ import annotations

import secrets
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError

from estore.common.config import ConfigError
from estore.common.metrics import Sample

SOCKET_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    "health_check_interval": 10,
}


class PoolExhausted(ConnectionError):
    """Every pooled connection stayed busy for the whole wait: the store is busy, not down."""


class WaitingPool(BlockingConnectionPool):
    """A bounded pool where a call waits a bounded time for a connection (then PoolExhausted)."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
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
) -> Redis:
    """A client for `url` on a bounded pool with a bounded wait; ConfigError if it is unset."""
    if not url:
        raise ConfigError(
            f"{variable} (or ESTORE_REDIS_URL) is not set (or use `estore up`, which runs its own)"
        )
    pool = WaitingPool.from_url(
        url, max_connections=max_connections, timeout=pool_timeout, **SOCKET_OPTIONS
    )
    return Redis.from_pool(pool)


def dedicated_redis(redis: Redis) -> Redis:
    """A client on a connection of its own to the same server as `redis`, outside its pool."""
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

    def __init__(self, pooled: Redis) -> None:
        self._pooled = pooled
        self._dedicated: Redis | None = None
        self._down = False

    async def __call__(self) -> bool:
        """True when Redis answers PING."""
        try:
            if self._dedicated is None:
                self._dedicated = dedicated_redis(self._pooled)
            await self._dedicated.ping()
            if self._down:
                await self._pooled.connection_pool.disconnect(inuse_connections=False)
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


def text(value: object) -> str:
    """A Redis reply value as text (replies are bytes unless decode_responses is set)."""
    return value.decode() if isinstance(value, bytes) else str(value)


async def shared_secret(redis: Redis, key: str, configured: str | None = None) -> bytes:
    """A secret every instance agrees on: the configured one, else one stored once in Redis."""
    if configured:
        return configured.encode()
    await redis.set(key, secrets.token_hex(32), nx=True)
    return text(await redis.get(key)).encode()


def connection_samples(redis: Redis) -> list[Sample]:
    """How many of the client's Redis connections are idle and in use."""
    counts = redis.connection_pool.get_connection_count()
    idle, used = (count for count, _ in counts)
    help_text = "Redis client connections, by state"
    return [
        Sample("estore_redis_connections", help_text, idle, {"state": "idle"}),
        Sample("estore_redis_connections", help_text, used, {"state": "in_use"}),
    ]

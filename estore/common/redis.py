"""Redis connections for the Redis-backed services."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from estore.common.config import ConfigError
from estore.common.metrics import Sample
from estore.common.server import Probe


def connect_redis(url: str | None, variable: str) -> Redis:
    """A client for `url` (connections open on first use); ConfigError when it is unset."""
    if not url:
        raise ConfigError(
            f"{variable} (or ESTORE_REDIS_URL) is not set (or use `estore up`, which runs its own)"
        )
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)


def redis_probe(redis: Redis) -> Probe:
    """A health probe that PINGs `redis`."""

    async def probe() -> bool:
        return bool(await redis.ping())

    return probe


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

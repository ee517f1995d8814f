"""Redis connections for the Redis-backed services."""

from __future__ import annotations

from redis.asyncio import Redis

from estore.common.config import ConfigError
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

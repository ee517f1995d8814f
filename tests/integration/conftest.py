"""What the store-level integration tests here share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client of the session's Redis (subfolders and modules may bring their own)."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()

"""The inventory event stream: a capped Redis Stream the Lua scripts append to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from estore.common.redis import text
from estore.inventory import keys
from estore.inventory.models import InventoryEvent
from estore.inventory.records import event_from_entry
from estore.inventory.redis_errors import store_errors

# XREAD blocks at most this long, so a cancelled watcher frees its connection soon.
BLOCK_MS = 1000
READ_COUNT = 100


@store_errors
class EventLog:
    """Reads the event stream; writes happen inside the scripts that change the inventory."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def last_id(self) -> str:
        """The id of the newest event, or "0-0" when the stream is empty."""
        newest = await self._redis.xrevrange(keys.EVENTS, count=1)
        return text(newest[0][0]) if newest else "0-0"

    async def follow(self, after_id: str) -> AsyncIterator[InventoryEvent]:
        """Every event after `after_id`, in order, waiting for new ones until cancelled."""
        last = after_id
        while True:
            reply: Any = await self._redis.xread(
                {keys.EVENTS: last}, count=READ_COUNT, block=BLOCK_MS
            )
            for _stream, entries in reply or ():
                for event_id, entry in entries:
                    last = text(event_id)
                    yield event_from_entry(event_id, entry)

"""The inventory event stream: a capped Redis Stream the Lua scripts append to."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis as SyncRedis
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.typing import KeyT, StreamIdT

from estore.common.errors import Unavailable
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import event_from_entry
from estore.inventory.models import InventoryEvent
from estore.inventory.store_errors import store_errors
from estore.inventory.store_scripts import Scripts

# XREAD blocks at most this long, so a stopping reader frees its connection soon.
BLOCK_MS = 1000
EVERYTHING = "0-0"  # the cursor before every event
RESETS_KEPT = 100  # restores remembered in their stream (readers need only the newest)
_LAST_POSSIBLE_ID = f"{2**64 - 1}-{2**64 - 1}"  # nothing can follow it (XRANGE refuses "(" it)

EventKey = tuple[int, int]


class StreamReplaced(Unavailable):
    """The data was replaced under the reader (a restore): what it followed is gone."""

    def __init__(self) -> None:
        super().__init__("the inventory data was restored from a backup")


def event_key(event_id: str) -> EventKey:
    """A stream id ("<ms>-<seq>", or "<ms>" for "<ms>-0") as numbers that sort like the ids."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def announce_restore(redis: SyncRedis | SyncRedisCluster) -> None:
    """Tell every running Inventory instance that its data was replaced (`estore restore`):
    their readers see the entry and empty their near caches."""
    redis.xadd(store_keys.RESETS, {"at": int(time.time() * 1000)}, maxlen=RESETS_KEPT)


@dataclass(frozen=True)
class EventPage:
    """Events read after a cursor, with what the stream still kept at that moment."""

    events: list[InventoryEvent]
    oldest_id: str  # the oldest event kept; "" when none is
    newest_id: str  # the last id ever added, kept or not
    trimmed: int  # how many events were trimmed so far

    def missed_after(self, cursor: str) -> bool:
        """Whether events after `cursor` were trimmed before they could be read."""
        if not self.trimmed:
            return False
        # Entries leave from the oldest end, so every trimmed event is older than the oldest
        # kept. A cursor older than that may have had trimmed events after it; say so, even
        # in the rare case where the cursor is exactly the last event trimmed.
        boundary = self.oldest_id or self.newest_id
        return event_key(cursor) < event_key(boundary)


@store_errors
class EventLog:
    """Reads the event stream; writes happen inside the scripts that change the inventory."""

    # How long wait_after waits for a first event: an empty answer came this long after the ask.
    block_seconds = BLOCK_MS / 1000

    def __init__(
        self, redis: RedisClient, scripts: Scripts, reader: RedisClient | None = None
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        # XREAD BLOCK holds its connection while it waits: it gets one outside the shared pool.
        self._reader = reader or redis
        self._resets_seen: str | None = None  # the newest restore the reader knows of

    async def last_id(self) -> str:
        """The id of the newest event, or "0-0" when the stream is empty."""
        newest = await self._redis.xrevrange(store_keys.EVENTS, count=1)
        return text(newest[0][0]) if newest else EVERYTHING

    async def read_after(self, cursor: str, count: int) -> EventPage:
        """Up to `count` events after `cursor`, and the stream's bounds, in one atomic read."""
        if cursor == _LAST_POSSIBLE_ID:
            count = 0
        reply: Any = await self._scripts.read_events(keys=[store_keys.EVENTS], args=[cursor, count])
        oldest, newest, trimmed, entries = reply
        events = [event_from_entry(event_id, entry) for event_id, entry in entries]
        return EventPage(events, text(oldest), text(newest), int(trimmed))

    async def wait_after(self, position: str, count: int) -> list[InventoryEvent]:
        """Up to `count` events after `position`, waiting up to BLOCK_MS for the first one;
        StreamReplaced when a restore happened since the previous call."""
        if self._resets_seen is None:
            newest = await self._redis.xrevrange(store_keys.RESETS, count=1)
            self._resets_seen = text(newest[0][0]) if newest else EVERYTHING
        streams: dict[KeyT, StreamIdT] = {
            store_keys.EVENTS: position,
            store_keys.RESETS: self._resets_seen,
        }
        reply: Any = await self._reader.xread(streams, count=count, block=BLOCK_MS)
        events = []
        for stream, entries in reply or ():
            if text(stream) == store_keys.RESETS:
                self._resets_seen = text(entries[-1][0])
                raise StreamReplaced()
            events += [event_from_entry(event_id, entry) for event_id, entry in entries]
        return events

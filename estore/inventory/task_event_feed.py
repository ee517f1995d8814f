"""WatchInventory's fan-out: one Redis reader per process serves every watcher of the process.

A watcher costs no Redis connection while it waits. It joins the reader first, then catches up
from the stream on the shared pool (XRANGE, page by page) until it holds everything up to the
newest event; from then on the reader's batches bring the rest, and ids already delivered are
skipped, so no event is missed or repeated. A watcher whose client reads too slowly does not
buffer without bound: past WATCHER_BUFFER it drops its buffer and catches up from the stream
again, and if the stream has trimmed what it had not read yet, it is told so (EventsTrimmed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from estore.common.errors import Unavailable
from estore.common.tasks import stop_task
from estore.inventory.errors import EventsTrimmed, TooManyWatchers
from estore.inventory.models import InventoryEvent
from estore.inventory.store_events import (
    EVERYTHING,
    EventKey,
    EventLog,
    StreamReplaced,
    event_key,
)

log = logging.getLogger("estore.inventory.events")

# Events per XREAD. Well below the stream's MAXLEN (10,000): a shorter batch proves that the
# stream trimmed nothing the reader had not read (see _read_once).
READ_COUNT = 1000
# Events a watcher may lag behind the reader before it catches up from the stream instead.
WATCHER_BUFFER = 1000
# Events per catch-up read (one round trip on the shared pool).
PAGE_SIZE = 100
RETRY_SECONDS = 0.5
# While nobody watches, the reader waits this long after a read that brought events, so that
# under load one XREAD brings many (a round trip per event, about 0.1 ms of CPU each, would cost
# a busy Inventory process several percent); it adds at most this to the near cache's window.
# Watchers get each event as soon as it is read, as before.
READ_PAUSE_SECONDS = 0.01

Keyed = tuple[EventKey, InventoryEvent]


class FeedListener(Protocol):
    """Follows the reader (the near cache, cache_products.py)."""

    def events_seen(self, events: Iterable[InventoryEvent]) -> None:
        """The reader read these events."""

    def caught_up(self, seconds_ago: float = 0.0) -> None:
        """The reader read everything the stream held `seconds_ago` (or later)."""

    def lost(self) -> None:
        """The reader failed or stopped: events may have been missed."""


class _Nobody:
    def events_seen(self, events: Iterable[InventoryEvent]) -> None:
        """Nothing to do."""

    def caught_up(self, seconds_ago: float = 0.0) -> None:
        """Nothing to do."""

    def lost(self) -> None:
        """Nothing to do."""


class _Watcher:
    """One stream's buffer of the events the reader handed out."""

    def __init__(self) -> None:
        self._pending: deque[Keyed] = deque()
        self._overflowed = False
        self._error: Exception | None = None
        self._wakeup = asyncio.Event()

    def rejoin(self) -> None:
        """Buffer afresh from now on (before catching up from the stream)."""
        self._pending.clear()
        self._overflowed = False

    def offer(self, batch: list[Keyed]) -> None:
        """Buffer a batch; one that would pass WATCHER_BUFFER empties the buffer instead."""
        if self._overflowed:
            return
        if len(self._pending) + len(batch) > WATCHER_BUFFER:
            self._pending.clear()
            self._overflowed = True
        else:
            self._pending.extend(batch)
        self._wakeup.set()

    def fail(self, error: Exception) -> None:
        """End the stream with `error` at its next take."""
        self._error = error
        self._wakeup.set()

    async def take(self) -> list[Keyed] | None:
        """The buffered events, once there are some; None when the buffer overflowed."""
        while not (self._pending or self._overflowed or self._error):
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._error is not None:
            raise self._error
        if self._overflowed:
            return None
        batch = list(self._pending)
        self._pending.clear()
        return batch


class EventFeed:
    """Every event of the stream, to every watcher of this process, from one reader."""

    def __init__(
        self, events: EventLog, *, max_watchers: int, listener: FeedListener | None = None
    ) -> None:
        self._events = events
        self._max_watchers = max_watchers
        self._listener = listener if listener is not None else _Nobody()
        self._starter: asyncio.Task[None] | None = None
        self._watchers: set[_Watcher] = set()
        self._position = EVERYTHING  # the newest event the reader handed out
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def watchers(self) -> int:
        """How many streams are being served."""
        return len(self._watchers)

    async def watch(self, after_id: str) -> AsyncIterator[InventoryEvent]:
        """Every event after `after_id` ("" = from now), in order, once each, until cancelled."""
        if len(self._watchers) >= self._max_watchers:
            raise TooManyWatchers(self._max_watchers)
        watcher = _Watcher()
        self._watchers.add(watcher)
        try:
            await self._start_reader()
            cursor = after_id or await self._events.last_id()
            while True:
                # Joined first: what the reader hands out from now on follows its position,
                # and the catch-up reads at least up to that position.
                watcher.rejoin()
                async for event in self._catch_up(cursor):
                    cursor = event.id
                    yield event
                after = event_key(cursor)
                while (batch := await watcher.take()) is not None:
                    for key, event in batch:
                        if key > after:
                            after, cursor = key, event.id
                            yield event
        finally:
            self._watchers.discard(watcher)

    async def _catch_up(self, cursor: str) -> AsyncIterator[InventoryEvent]:
        """The events after `cursor` that the stream holds now, page by page."""
        while True:
            page = await self._events.read_after(cursor, PAGE_SIZE)
            if cursor != EVERYTHING and page.missed_after(cursor):
                raise EventsTrimmed(cursor, page.oldest_id)
            for event in page.events:
                yield event
            if len(page.events) < PAGE_SIZE:
                return
            cursor = page.events[-1].id

    def start(self) -> None:
        """Start the reader now and keep it running (the listener follows it), not only while
        someone watches; while Redis is down, try again every RETRY_SECONDS."""
        if self._starter is None:
            self._starter = asyncio.create_task(self._keep_starting(), name="inventory-feed-start")

    async def _keep_starting(self) -> None:
        while True:
            try:
                await self._start_reader()
                return
            except Exception as error:
                if not isinstance(error, Unavailable):
                    log.exception("the inventory event reader could not start")
                await asyncio.sleep(RETRY_SECONDS)

    async def _start_reader(self) -> None:
        """Start the reader at the stream's newest event, once."""
        async with self._starting:
            if self._reader is None:
                self._position = await self._events.last_id()
                self._reader = asyncio.create_task(self._read_loop(), name="inventory-events")

    async def _read_loop(self) -> None:
        while True:
            try:
                if await self._read_once() and not self._watchers:
                    await asyncio.sleep(READ_PAUSE_SECONDS)
            except Exception as error:
                self._listener.lost()
                if not isinstance(error, Unavailable):
                    log.exception("the inventory event reader failed")
                # Every watcher may have missed events: end each; clients resume with their
                # last event id, and a catch-up of their own tells them exactly.
                for watcher in self._watchers:
                    watcher.fail(Unavailable("the inventory event stream was interrupted"))
                await asyncio.sleep(RETRY_SECONDS)

    async def _read_once(self) -> int:
        """Read and hand out the next events; how many there were."""
        position = self._position
        asked = time.monotonic()
        try:
            batch = await self._events.wait_after(position, READ_COUNT)
        except StreamReplaced:
            # A restore replaced the stream: follow the new one from its end (the listener
            # forgets everything, the watchers are ended, as below).
            self._position = await self._events.last_id()
            raise
        if len(batch) == READ_COUNT:
            # A full batch: the reader may be so far behind that events it had not read were
            # trimmed. Then start again from the newest; the watchers are ended (above).
            page = await self._events.read_after(position, 0)
            if page.missed_after(position):
                self._position = await self._events.last_id()
                raise Unavailable("the inventory event reader fell behind the stream")
        if batch:
            self._position = batch[-1].id
            keyed = [(event_key(event.id), event) for event in batch]
            for watcher in self._watchers:
                watcher.offer(keyed)
            self._listener.events_seen(batch)
        if len(batch) < READ_COUNT:
            # The answer holds the stream as Redis had it when it answered: after the ask (an
            # empty one, after the whole wait), but on a busy event loop perhaps long before
            # now. Counting from the answer's arrival would stretch the cache's window by that
            # delay (seen: a change not shown 2.04 s after it, against a 2 s window).
            answered = asked + (0.0 if batch else self._events.block_seconds)
            self._listener.caught_up(max(0.0, time.monotonic() - answered))
        return len(batch)

    async def close(self) -> None:
        """Stop the reader (the listener is told: nothing follows the stream any more)."""
        if self._starter is not None:
            await stop_task(self._starter)
            self._starter = None
        if self._reader is not None:
            await stop_task(self._reader)
            self._reader = None
        self._listener.lost()

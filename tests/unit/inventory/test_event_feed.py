"""The event feed's rules, over an in-memory stream: catch-up, overflow, gaps and the cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import cast

import pytest

from estore.common.errors import Unavailable
from estore.inventory import task_event_feed
from estore.inventory.errors import EventsTrimmed, TooManyWatchers
from estore.inventory.models import EventType, InventoryEvent
from estore.inventory.store_events import EventLog, EventPage, StreamReplaced, event_key
from estore.inventory.task_event_feed import EventFeed


class MemoryStream:
    """A capped stream in memory, with the EventLog methods the feed uses."""

    block_seconds = 0.2  # wait_after's wait for a first event

    def __init__(self) -> None:
        self.entries: list[InventoryEvent] = []
        self.added = 0
        self.trimmed = 0
        self._new = asyncio.Event()

    def add(self, count: int) -> None:
        for _ in range(count):
            self.added += 1
            event_id = f"{1000 + self.added}-0"
            self.entries.append(
                InventoryEvent(event_id, EventType.STOCK_CHANGED, "p", self.added, 0, 1, "", 0)
            )
        self._new.set()

    def trim(self, keep: int) -> None:
        self.trimmed += len(self.entries) - keep
        self.entries = self.entries[-keep:]

    def _after(self, cursor: str) -> list[InventoryEvent]:
        return [e for e in self.entries if event_key(e.id) > event_key(cursor)]

    async def last_id(self) -> str:
        return self.entries[-1].id if self.entries else "0-0"

    async def read_after(self, cursor: str, count: int) -> EventPage:
        oldest = self.entries[0].id if self.entries else ""
        newest = f"{1000 + self.added}-0" if self.added else "0-0"
        return EventPage(self._after(cursor)[:count], oldest, newest, self.trimmed)

    async def wait_after(self, position: str, count: int) -> list[InventoryEvent]:
        if not self._after(position):
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), self.block_seconds)
            except TimeoutError:
                return []
        return self._after(position)[:count]


@pytest.fixture
def stream() -> MemoryStream:
    return MemoryStream()


@pytest.fixture
async def feed(stream: MemoryStream, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EventFeed]:
    monkeypatch.setattr(task_event_feed, "WATCHER_BUFFER", 2)
    monkeypatch.setattr(task_event_feed, "PAGE_SIZE", 3)
    monkeypatch.setattr(task_event_feed, "READ_COUNT", 4)
    monkeypatch.setattr(task_event_feed, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(task_event_feed, "READ_PAUSE_SECONDS", 0)
    shared = EventFeed(cast(EventLog, stream), max_watchers=2)
    yield shared
    await shared.close()


async def _settle() -> None:
    """Let the reader hand out whatever is in the stream."""
    for _ in range(20):
        await asyncio.sleep(0)


async def _take(watcher: AsyncIterator[InventoryEvent], count: int) -> list[int]:
    return [(await asyncio.wait_for(anext(watcher), 2)).quantity for _ in range(count)]


async def test_a_watcher_that_fell_behind_catches_up_from_the_stream(stream, feed) -> None:
    stream.add(1)
    watcher = feed.watch("0-0")
    assert await _take(watcher, 1) == [1]
    taking = asyncio.ensure_future(_take(watcher, 50))
    await _settle()  # it caught up: it now waits for the reader
    stream.add(50)  # the reader hands out more than its buffer of 2 holds
    assert await taking == list(range(2, 52))
    stream.add(1)
    assert await _take(watcher, 1) == [52]
    await watcher.aclose()


async def test_a_watcher_whose_next_events_were_trimmed_is_told(stream, feed) -> None:
    stream.add(3)
    watcher = feed.watch("0-0")
    assert await _take(watcher, 1) == [1]
    stream.add(20)
    await _settle()  # its buffer overflowed: it will read from the stream again
    stream.trim(keep=5)
    with pytest.raises(EventsTrimmed) as caught:
        await _take(watcher, 20)  # 2 and 3 came in the page it read first; 4 to 18 are gone
    assert caught.value.metadata["oldest_event_id"] == stream.entries[0].id


async def test_resume_points(stream, feed) -> None:
    stream.add(6)
    stream.trim(keep=3)  # events 4, 5 and 6 are kept
    everything = feed.watch("0-0")
    assert await _take(everything, 3) == [4, 5, 6]
    await everything.aclose()
    kept = feed.watch("1004-0")
    stream.add(1)
    assert await _take(kept, 3) == [5, 6, 7]
    await kept.aclose()
    with pytest.raises(EventsTrimmed):
        await anext(feed.watch("1002-0"))
    future = feed.watch("9999-0")  # nothing is missed after an id still to come
    stream.add(1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(future), 0.3)


async def test_the_reader_falling_behind_the_trim_ends_every_watcher(stream, feed) -> None:
    stream.add(1)
    watcher = feed.watch("0-0")
    assert await _take(watcher, 1) == [1]
    # More than a full read arrives and the oldest go before the reader sees them.
    stream.add(10)
    stream.trim(keep=5)
    with pytest.raises(Unavailable):
        await _take(watcher, 10)


async def test_watchers_beyond_the_cap_are_refused(stream, feed) -> None:
    stream.add(1)
    first, second = feed.watch("0-0"), feed.watch("0-0")
    await _take(first, 1)
    await _take(second, 1)
    assert feed.watchers == 2
    with pytest.raises(TooManyWatchers) as caught:
        await anext(feed.watch(""))
    assert caught.value.retry_after_seconds > 0
    await first.aclose()
    third = feed.watch("0-0")
    assert await _take(third, 1) == [1]
    await second.aclose()
    await third.aclose()


@pytest.mark.parametrize(
    ("cursor", "oldest", "newest", "trimmed", "missed"),
    [
        ("5-0", "3-0", "9-0", 0, False),  # nothing ever trimmed
        ("2-5", "3-0", "9-0", 2, True),  # older than the oldest kept
        ("3-0", "3-0", "9-0", 2, False),  # the oldest kept itself
        ("99-0", "3-0", "9-0", 2, False),  # an id still to come
        ("8-0", "", "9-0", 9, True),  # all trimmed, some after the cursor
        ("9-0", "", "9-0", 9, False),  # all trimmed, none after it
    ],
)
def test_what_counts_as_missed(cursor, oldest, newest, trimmed, missed) -> None:
    assert EventPage([], oldest, newest, trimmed).missed_after(cursor) is missed


class Listener:
    """Records what the feed tells the near cache."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.seen: list[str] = []
        self.ages: list[float] = []  # caught_up's seconds_ago

    def events_seen(self, events: Iterable[InventoryEvent]) -> None:
        self.seen += [event.product_id for event in events]
        self.calls.append("events")

    def caught_up(self, seconds_ago: float = 0.0) -> None:
        self.calls.append("caught up")
        self.ages.append(seconds_ago)

    def lost(self) -> None:
        self.calls.append("lost")


@pytest.fixture
async def followed(
    stream: MemoryStream, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[EventFeed, Listener]]:
    monkeypatch.setattr(task_event_feed, "READ_COUNT", 4)
    monkeypatch.setattr(task_event_feed, "RETRY_SECONDS", 0.01)
    listener = Listener()
    shared = EventFeed(cast(EventLog, stream), max_watchers=2, listener=listener)
    yield shared, listener
    await shared.close()


async def _until(listener: Listener, call: str, after: int = 0) -> None:
    """Wait until the listener is told `call` (after its first `after` calls)."""
    for _ in range(200):
        if call in listener.calls[after:]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the listener was never told {call!r}: {listener.calls}")


async def test_started_without_watchers_the_reader_tells_its_listener_everything(
    stream, followed
) -> None:
    feed, listener = followed
    feed.start()
    await _until(listener, "caught up")  # the stream is empty: read to its end
    before = len(listener.calls)
    stream.add(6)  # more than one read of 4: the first read is full, so not yet caught up
    await _until(listener, "caught up", before)
    assert listener.seen == ["p"] * 6
    assert listener.calls[-3:] == ["events", "events", "caught up"]
    await feed.close()
    assert listener.calls[-1] == "lost"


async def test_a_failing_reader_tells_its_listener(
    stream: MemoryStream, followed: tuple[EventFeed, Listener]
) -> None:
    feed, listener = followed

    async def broken(position: str, count: int) -> list[InventoryEvent]:
        raise RuntimeError("connection reset")

    feed.start()
    await _until(listener, "caught up")
    stream.wait_after = broken  # type: ignore[method-assign]
    await _until(listener, "lost")
    del stream.wait_after  # the class's again
    before = len(listener.calls)
    stream.add(1)
    await _until(listener, "caught up", before)  # it recovers by itself
    assert listener.seen == ["p"]


async def test_a_restore_moves_the_reader_to_the_new_stream_s_end(
    stream: MemoryStream, followed: tuple[EventFeed, Listener]
) -> None:
    feed, listener = followed
    replaced = asyncio.Event()
    reading = stream.wait_after

    async def restored_once(position: str, count: int) -> list[InventoryEvent]:
        if not replaced.is_set():
            replaced.set()
            stream.add(3)  # the restored stream's events: history, not changes to follow
            raise StreamReplaced()
        return await reading(position, count)

    stream.wait_after = restored_once  # type: ignore[method-assign]
    feed.start()
    await _until(listener, "caught up")
    assert "lost" in listener.calls
    assert listener.seen == []  # it went on from the restored stream's end


async def test_caught_up_dates_from_the_ask_not_from_a_late_answer(
    stream: MemoryStream, followed: tuple[EventFeed, Listener]
) -> None:
    # On a busy event loop an answer is handled long after Redis gave it: the stream may have
    # changed meanwhile, so the near cache's window must count from the ask.
    feed, listener = followed
    reading = stream.wait_after

    async def answered_late(position: str, count: int) -> list[InventoryEvent]:
        events = await reading(position, count)
        await asyncio.sleep(0.3)
        return events

    stream.wait_after = answered_late  # type: ignore[method-assign]
    stream.add(1)
    feed.start()
    await _until(listener, "caught up")
    assert listener.ages[0] >= 0.3  # events: dated from the ask
    before = len(listener.calls)
    await _until(listener, "caught up", before)  # an empty answer, after the whole wait
    assert 0.3 <= listener.ages[-1] < 0.3 + stream.block_seconds  # not from the ask

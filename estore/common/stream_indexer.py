"""The machinery shared by the bucket-stream indexers of Inventory and Payments.

Each instance holds the leases of some ranges of buckets (estore.common.sweep_leases) and reads
those buckets' streams with the consumer group `indexer`: the buckets rung on the doorbell, the
buckets whose last read was full, and each held bucket at least every SAFETY_SECONDS, should a
ring be lost. On taking a bucket over it claims what the previous holder read but did not
acknowledge (XAUTOCLAIM), so every event is applied at least once. `lag_ms` is how old the
oldest event of the last batch read was when it was applied. A service says only its stream
key, how a batch of entries is applied, and what runs before each pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from redis.exceptions import ResponseError

from estore.common.metrics import Sample
from estore.common.redis import RedisClient, text
from estore.common.sweep_leases import BucketLeases
from estore.common.tasks import stop_task

GROUP = "indexer"
BATCH = 200  # entries read per bucket and pass
SAFETY_SECONDS = 5.0  # every held bucket's stream is read at least this often, rung or not
_DIRTY = Path(__file__).parent / "lua" / "index_dirty.lua"


class StreamIndexer:
    """Applies the events of the buckets this instance holds; safe with several instances."""

    DOORBELL: ClassVar[str]  # the zset of rung buckets (member bucket, score range)
    METRIC: ClassVar[str]
    METRIC_HELP: ClassVar[str]
    TASK_NAME: ClassVar[str]
    READ_TAKEN: ClassVar[bool] = False  # read a bucket's new entries in the pass that takes it
    log: ClassVar[logging.Logger]

    def __init__(self, redis: RedisClient, held: BucketLeases, interval: float = 0.1) -> None:
        self._redis = redis
        self._leases = held
        self._interval = interval
        self._take_rung = redis.register_script(_DIRTY.read_text())
        self._adopted: set[int] = set()
        self._busy: set[int] = set()  # buckets whose last read was full: read again at once
        self._slice = 0  # which part of the held buckets the safety read covers next
        self.lag_ms = 0.0
        self._task: asyncio.Task[None] | None = None
        self._prompt: asyncio.Task[None] | None = None
        # before_pass runs from both loops, one at a time: two flushes at once could apply a
        # product's older events after its newer ones (index_apply.lua would skip them).
        self._before = asyncio.Lock()

    def stream_key(self, bucket: int) -> str:
        """The bucket's stream of events."""
        raise NotImplementedError

    async def apply_entries(self, entries: list[Any]) -> None:
        """Apply a batch of stream entries (id, fields) read from the held buckets."""
        raise NotImplementedError

    async def before_pass(self) -> None:
        """What the service does at the start of every pass (send its doorbell's rings)."""

    async def run_once(self) -> int:
        """Apply what the held buckets' streams hold; how many events were read."""
        async with self._before:
            await self.before_pass()
        buckets = await self._leases.buckets()
        fresh = [bucket for bucket in buckets if bucket not in self._adopted]
        read = await self._adopt(fresh) if fresh else 0
        self._adopted = set(buckets)
        due = await self._due(buckets)
        if self.READ_TAKEN:  # a bucket just taken is read whole: nobody may have applied it yet
            due = sorted(set(due) | set(fresh))
        return read + await self._read(due)

    async def _due(self, buckets: list[int]) -> list[int]:
        """The held buckets to read now: rung, busy, and this pass's slice of the rest."""
        ranges: list[str | int] = list(self._leases.held_ranges)
        rung: set[int] = set()
        if ranges:
            found = await self._take_rung(keys=[self.DOORBELL], args=ranges)
            rung = {int(b) for b in found}
        slices = max(1, round(SAFETY_SECONDS / self._interval))
        self._slice = (self._slice + 1) % slices
        safety = set(buckets[self._slice :: slices])
        return sorted((rung | self._busy | safety) & set(buckets))

    async def _adopt(self, buckets: list[int]) -> int:
        """Make sure each bucket's group exists, and claim what its previous holder left."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.xgroup_create(self.stream_key(bucket), GROUP, id="0", mkstream=True)
            await pipe.execute(raise_on_error=False)  # BUSYGROUP: it exists
        read, pending = 0, {bucket: "0-0" for bucket in buckets}
        while pending:
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket, start in pending.items():
                    key = self.stream_key(bucket)
                    pipe.xautoclaim(key, GROUP, self._leases.instance, 0, start, count=BATCH)
                replies = await pipe.execute()
            read += await self._settle(list(pending), [reply[1] for reply in replies])
            pending = {
                bucket: text(reply[0])
                for bucket, reply in zip(pending, replies, strict=True)
                if text(reply[0]) != "0-0"
            }
        return read

    async def _read(self, buckets: list[int]) -> int:
        """Read, apply and acknowledge the new entries of the buckets."""
        if not buckets:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                key = self.stream_key(bucket)
                pipe.xreadgroup(GROUP, self._leases.instance, {key: ">"}, count=BATCH)
            replies = await pipe.execute(raise_on_error=False)
        entries = []
        for bucket, reply in zip(buckets, replies, strict=True):
            if isinstance(reply, ResponseError):  # NOGROUP: the stream was removed
                self._adopted.discard(bucket)
                reply = None
            entries.append(_stream_entries(reply))
        self._busy = {b for b, found in zip(buckets, entries, strict=True) if len(found) == BATCH}
        return await self._settle(buckets, entries)

    async def _settle(self, buckets: Sequence[int], entries: Sequence[list[Any]]) -> int:
        """Apply the entries read from each bucket, then acknowledge them."""
        if not any(entries):
            return 0
        await self.apply_entries([entry for found in entries for entry in found])
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket, found in zip(buckets, entries, strict=True):
                if found:
                    key = self.stream_key(bucket)
                    pipe.xack(key, GROUP, *(entry_id for entry_id, _ in found))
            await pipe.execute()
        appended = [int(text(entry_id).split("-")[0]) for found in entries for entry_id, _ in found]
        self.lag_ms = max(0.0, time.time() * 1000 - min(appended))
        return len(appended)

    def samples(self) -> list[Sample]:
        """The indexer's lag, as a metric."""
        return [Sample(self.METRIC, self.METRIC_HELP, self.lag_ms)]

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                self.log.warning("indexer pass failed", exc_info=True)
            await asyncio.sleep(self._interval)

    async def _prompt_loop(self) -> None:
        # before_pass on its own beat too: a pass that adopts many buckets (at start, or on
        # taking over a dead instance's) can take seconds on a cluster, and this process's
        # deferred events and rings must not wait for it (seen: 5 to 8 s on a loaded machine).
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with self._before:
                    await self.before_pass()
            except Exception:
                self.log.warning("indexer's prompt step failed", exc_info=True)

    def start(self) -> None:
        """Index in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.TASK_NAME)
            name = f"{self.TASK_NAME}-prompt"
            self._prompt = asyncio.create_task(self._prompt_loop(), name=name)

    async def stop(self) -> None:
        """Stop indexing (the leases are given back by their owner, the service's app.py)."""
        for task in (self._task, self._prompt):
            if task is not None:
                await stop_task(task)
        self._task = self._prompt = None


def _stream_entries(reply: Any) -> list[Any]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for found in reply.values() for entry in found[0]]
    return list(reply[0][1])

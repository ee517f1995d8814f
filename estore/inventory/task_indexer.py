"""The indexer: applies every bucket's events to the global indexes, repairing a crash between a
product's write and its index step (store_index.py), and acknowledges them.

Each instance holds the leases of some ranges of buckets (estore.common.sweep_leases) and reads
those buckets' streams with the consumer group `indexer`: the buckets rung on the doorbell (the
writers' processes send the buckets they wrote once per pass, one ZADD), the buckets whose last
read was full, and each held bucket at least every SAFETY_SECONDS, should a ring be lost (a
process that died between the two steps of a write never sent its ring). On taking a bucket
over it claims what the previous holder read but did not acknowledge (XAUTOCLAIM), so every
event is applied at least once; index_apply.lua applies each at most once. `lag_ms` is how old
the oldest event of the last batch read was when it was applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError, ResponseError

from estore.common.buckets import RANGE, spans
from estore.common.metrics import Sample
from estore.common.redis import RedisClient, text
from estore.common.sweep_leases import BucketLeases
from estore.common.tasks import stop_task
from estore.inventory import store_keys
from estore.inventory.store_index import IndexWriter, as_event

log = logging.getLogger("estore.inventory.indexer")
GROUP = "indexer"
BATCH = 200  # entries read per bucket and pass
SAFETY_SECONDS = 5.0  # every held bucket's stream is read at least this often, rung or not
_DIRTY = Path(__file__).parents[1] / "common" / "lua" / "index_dirty.lua"


def leases(redis: RedisClient, lease_seconds: float, instance: str | None = None) -> BucketLeases:
    """Inventory's bucket leases (shared by the indexer and the reservation sweeper)."""
    return BucketLeases(
        redis, lease_seconds, instance, prefix=f"{store_keys.PREFIX}:sweep", ranges=spans()
    )


class Indexer:
    """Applies the events of the buckets this instance holds; safe with several instances."""

    def __init__(
        self,
        redis: RedisClient,
        writer: IndexWriter,
        held: BucketLeases,
        interval: float = 0.1,
    ) -> None:
        self._redis = redis
        self._writer = writer
        self._leases = held
        self._interval = interval
        self._take_rung = redis.register_script(_DIRTY.read_text())
        self._adopted: set[int] = set()
        self._busy: set[int] = set()  # buckets whose last read was full: read again at once
        self._slice = 0  # which part of the held buckets the safety read covers next
        self.lag_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Apply what the held buckets' streams hold; how many events were read."""
        await self._writer.flush()
        await self._send_rings()
        buckets = await self._leases.buckets()
        fresh = [bucket for bucket in buckets if bucket not in self._adopted]
        read = await self._adopt(fresh) if fresh else 0
        self._adopted = set(buckets)
        # A bucket just taken is read whole: its stream may hold what nobody applied yet.
        return read + await self._read(sorted(set(await self._due(buckets)) | set(fresh)))

    async def _send_rings(self) -> None:
        """Tell every indexer which buckets this process wrote; kept for the next try if not."""
        rung, self._writer.rung = self._writer.rung, set()
        if not rung:
            return
        try:
            await self._redis.zadd(store_keys.DOORBELL, {str(b): b // RANGE for b in rung})
        except RedisError:
            self._writer.rung |= rung
            raise

    async def _due(self, buckets: list[int]) -> list[int]:
        """The held buckets to read now: rung, busy, and this pass's slice of the rest."""
        ranges: list[str | int] = list(self._leases.held_ranges)
        rung: set[int] = set()
        if ranges:
            found = await self._take_rung(keys=[store_keys.DOORBELL], args=ranges)
            rung = {int(b) for b in found}
        slices = max(1, round(SAFETY_SECONDS / self._interval))
        self._slice = (self._slice + 1) % slices
        safety = set(buckets[self._slice :: slices])
        return sorted((rung | self._busy | safety) & set(buckets))

    async def _adopt(self, buckets: list[int]) -> int:
        """Make sure each bucket's group exists, and claim what its previous holder left."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.xgroup_create(store_keys.bucket_events(bucket), GROUP, id="0", mkstream=True)
            await pipe.execute(raise_on_error=False)  # BUSYGROUP: it exists
        read, pending = 0, {bucket: "0-0" for bucket in buckets}
        while pending:
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket, start in pending.items():
                    key = store_keys.bucket_events(bucket)
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
                key = store_keys.bucket_events(bucket)
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
        events = [as_event(i, fields) for found in entries for i, fields in found if fields]
        await self._writer.apply(events)
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket, found in zip(buckets, entries, strict=True):
                if found:
                    key = store_keys.bucket_events(bucket)
                    pipe.xack(key, GROUP, *(entry_id for entry_id, _ in found))
            await pipe.execute()
        appended = [int(text(entry_id).split("-")[0]) for found in entries for entry_id, _ in found]
        self.lag_ms = max(0.0, time.time() * 1000 - min(appended))
        return len(appended)

    def samples(self) -> list[Sample]:
        """The indexer's lag, as a metric."""
        help_text = "How old the oldest bucket event of the indexer's last batch was, in ms"
        return [Sample("estore_inventory_indexer_lag_ms", help_text, self.lag_ms)]

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.warning("indexer pass failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        """Index in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="inventory-indexer")

    async def stop(self) -> None:
        """Stop indexing (the leases are given back by their owner, app.py)."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None


def _stream_entries(reply: Any) -> list[Any]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for found in reply.values() for entry in found[0]]
    return list(reply[0][1])

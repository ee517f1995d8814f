"""The indexer of the admin-wide order listings (`{pay:ix}`), kept from the per-bucket events.

Every script that lists an order anew or moves its status appends an event (order id, version,
status, index member) to its bucket's stream, and its caller rings the process's doorbell
(`Doorbell`), sent to `{pay:ix}` with each indexer pass. The instance holding a bucket's sweep
lease reads the streams of the buckets rung (and each of its buckets' every SAFETY_SECONDS,
should a ring be lost) with the consumer group `indexer`, applies each event (index_apply.lua:
idempotent, never backwards by the order's version) and acknowledges it. On taking a bucket
over, it claims the entries its previous owner read but did not acknowledge (XAUTOCLAIM), so
every event is applied at least once. Admin listings therefore lag by `lag_ms`; a user's own
listing is exact.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from redis.exceptions import RedisError, ResponseError

from estore.common.metrics import Sample
from estore.common.redis import RedisClient, text
from estore.common.tasks import stop_task
from estore.payments.buckets import bucket_of_id
from estore.payments.keys import DOORBELL, IX, events_key, index, legacy_admin_index, range_of
from estore.payments.models import OrderStatus
from estore.payments.sweep_leases import BucketLeases

log = logging.getLogger("estore.payments.indexer")
GROUP = "indexer"
BATCH = 200  # entries read per bucket and pass
SAFETY_SECONDS = 5.0  # every held bucket's stream is read at least this often, rung or not
VERSIONS = f"{IX}:order-versions"
LEGACY_COPIED = f"{IX}:legacy-copied"
Event = tuple[str, str, str, str]  # order id, version, status, index member


class Indexer:
    """Applies the events of the buckets this instance holds; safe with several instances."""

    def __init__(self, redis: RedisClient, leases: BucketLeases, interval: float = 0.1) -> None:
        self._redis = redis
        self._leases = leases
        self._interval = interval
        self._apply = redis.register_script(
            (Path(__file__).parent / "lua" / "index_apply.lua").read_text()
        )
        self._take_rung = redis.register_script(
            (Path(__file__).parents[1] / "common" / "lua" / "index_dirty.lua").read_text()
        )
        self._adopted: set[int] = set()
        self._busy: set[int] = set()  # buckets whose last read was full: read again at once
        self._slice = 0  # which part of the held buckets the safety read covers next
        self._copied = False
        self.lag_ms = 0.0  # between the last applied event's append and its application
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Apply what the held buckets' streams hold; how many events were read."""
        await Doorbell.of(self._redis).send()
        if not self._copied:
            await copy_legacy_listings(self._redis, self.apply)
            self._copied = True
        buckets = await self._leases.buckets()
        fresh = [bucket for bucket in buckets if bucket not in self._adopted]
        read = await self._adopt(fresh) if fresh else 0
        self._adopted = set(buckets)
        return read + await self._read(await self._due(buckets))

    async def _due(self, buckets: list[int]) -> list[int]:
        """The held buckets to read now: rung, busy, and this pass's slice of the rest."""
        ranges: list[str | int] = list(self._leases.held_ranges)
        rung = (
            {int(b) for b in await self._take_rung(keys=[DOORBELL], args=ranges)}
            if ranges
            else set()
        )
        slices = max(1, round(SAFETY_SECONDS / self._interval))
        self._slice = (self._slice + 1) % slices
        safety = set(buckets[self._slice :: slices])
        return sorted((rung | self._busy | safety) & set(buckets))

    async def _adopt(self, buckets: list[int]) -> int:
        """Make sure each bucket's group exists, and claim what its previous owner left."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.xgroup_create(events_key(bucket), GROUP, id="0", mkstream=True)
            await pipe.execute(raise_on_error=False)  # BUSYGROUP: it exists
        read, pending = 0, {bucket: "0-0" for bucket in buckets}
        while pending:
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket, start in pending.items():
                    pipe.xautoclaim(
                        events_key(bucket), GROUP, self._leases.instance, 0, start, count=BATCH
                    )
                replies = await pipe.execute()
            entries = [reply[1] for reply in replies]
            read += await self._settle(list(pending), entries)
            pending = {
                bucket: text(reply[0])
                for bucket, reply in zip(pending, replies, strict=True)
                if text(reply[0]) != "0-0"
            }
        return read

    async def _read(self, buckets: list[int]) -> int:
        """Read, apply and acknowledge the new entries of every held bucket."""
        if not buckets:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                key = events_key(bucket)
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
        events = [_event(fields) for found in entries for _, fields in found if fields]
        if not any(entries):
            return 0
        await self.apply(events)
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket, found in zip(buckets, entries, strict=True):
                if found:
                    pipe.xack(events_key(bucket), GROUP, *(entry_id for entry_id, _ in found))
            await pipe.execute()
        appended = [int(text(entry_id).split("-")[0]) for found in entries for entry_id, _ in found]
        self.lag_ms = max(0.0, time.time() * 1000 - min(appended))
        return len(appended)

    async def apply(self, events: Sequence[Event]) -> int:
        """Apply events to the admin listings (each at most once, never backwards)."""
        statuses = [status.value for status in OrderStatus]
        keys = [VERSIONS, index(None, None), *(index(None, status) for status in OrderStatus)]
        applied = 0
        for start in range(0, len(events), 500):
            args: list[str | int] = [len(statuses), *statuses]
            for event in events[start : start + 500]:
                args += list(event)
            applied += int(await self._apply(keys=keys, args=args))
        return applied

    def samples(self) -> list[Sample]:
        help_text = "Admin order listings' lag behind the order events, in milliseconds"
        return [Sample("estore_payments_indexer_lag_ms", help_text, self.lag_ms)]

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.warning("indexer pass failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="payments-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)


def _stream_entries(reply: Any) -> list[Any]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for found in reply.values() for entry in found[0]]
    return list(reply[0][1])


def _event(fields: dict[Any, Any]) -> Event:
    found = {text(name): text(value) for name, value in fields.items()}
    return found["id"], found["v"], found["s"], found["m"]


async def copy_legacy_listings(redis: RedisClient, apply: Any) -> None:
    """Once per store: the admin listings kept before the indexer become its version 0."""
    if await redis.exists(LEGACY_COPIED):
        return
    for status in OrderStatus:
        async for found in _members(redis, legacy_admin_index(status)):
            await apply([(m.split(":", 1)[1], "0", status.value, m) for m in found])
    async for found in _members(redis, legacy_admin_index(None)):
        await redis.zadd(index(None, None), dict.fromkeys(found, 0))
    await redis.set(LEGACY_COPIED, "1")


async def _members(redis: RedisClient, key: str) -> Any:
    """A sorted set's members, 500 at a time."""
    batch: list[str] = []
    async for member, _ in redis.zscan_iter(key, count=500):
        batch.append(text(member))
        if len(batch) == 500:
            yield batch
            batch = []
    if batch:
        yield batch


class Doorbell:
    """The buckets this process appended events to, told to the indexers in one ZADD per
    indexer pass (`{pay:ix}:rung`) rather than one command per event.

    Rings not yet sent when the process dies are covered by each bucket's safety read.
    """

    _of: ClassVar[weakref.WeakKeyDictionary[Any, Doorbell]] = weakref.WeakKeyDictionary()

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._rung: set[int] = set()

    @classmethod
    def of(cls, redis: RedisClient) -> Doorbell:
        """The one doorbell of a client (its stores ring it, its indexer sends the rings)."""
        if redis not in cls._of:
            cls._of[redis] = cls(redis)
        return cls._of[redis]

    def ring(self, order_id: str) -> None:
        """The order's bucket has new events."""
        self._rung.add(bucket_of_id(order_id))

    async def send(self) -> None:
        """Tell every indexer which buckets were rung; kept for the next try if Redis fails."""
        rung, self._rung = self._rung, set()
        if not rung:
            return
        try:
            await self._redis.zadd(DOORBELL, {str(b): range_of(b) for b in rung})
        except RedisError:
            self._rung |= rung
            raise

"""Reservation expiry, per bucket: each bucket's expiry index swept by the instance holding its
lease, and the buckets where an instance's own holds are due swept by that instance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from estore.common.buckets import BUCKETS, bucket_of
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.store_index import IndexWriter
from estore.inventory.store_scripts import Scripts

DAY_MS = 24 * 3600 * 1000
# Reservations in a final state are kept this long so that retries still see them.
KEEP_FINAL_MS = DAY_MS
SWEEP_BATCH = 100
COUNT_CHUNK = 64  # buckets counted per pipeline


class ReservationExpiry:
    """The expiry indexes of the buckets, and the sweep that gives due holds' stock back."""

    def __init__(self, redis: RedisClient, scripts: Scripts, writer: IndexWriter) -> None:
        self._redis = redis
        self._scripts = scripts
        self._writer = writer
        # The earliest expiry of this instance's own holds per bucket: its sweeps look there
        # when due, whoever holds the bucket's lease (the leased sweep covers every bucket,
        # about once a second, for holds whose instance is gone).
        self._expiring: dict[int, int] = {}

    async def expire_due(
        self, now: int, batch: int = SWEEP_BATCH, buckets: Sequence[int] | None = None
    ) -> int:
        """Expire up to `batch` held reservations per bucket due by `now`, in `buckets` (all if
        None); returns how many this call expired."""
        return await self.expire(await self.due(now, batch, buckets), now)

    async def count_held(self) -> int:
        """How many reservations hold stock right now (a ZCARD per bucket, pipelined in chunks)."""
        # The metrics sampler calls this every health probe: one pipeline of 1,024 ZCARDs kept
        # the event loop busy for tens of ms; chunks let the calls waiting run between them.
        held = 0
        for start in range(0, BUCKETS, COUNT_CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket in range(start, min(start + COUNT_CHUNK, BUCKETS)):
                    pipe.zcard(store_keys.bucket_expiry(bucket))
                held += sum(int(count) for count in await pipe.execute())
        return held

    async def due(
        self, now: int, batch: int = SWEEP_BATCH, buckets: Sequence[int] | None = None
    ) -> list[Due]:
        """Up to `batch` reservations per bucket whose expiry is at or before `now`."""
        buckets = range(BUCKETS) if buckets is None else sorted({*buckets, *self._soon(now)})
        # The command as sent: redis-py's zrange() checks its options in Python for each of
        # the 1,024 buckets a leased sweep reads every second (about 15 % of the sweep's CPU).
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                key = store_keys.bucket_expiry(bucket)
                pipe.execute_command("ZRANGE", key, "-inf", now, "BYSCORE", "LIMIT", 0, batch)
            found = await pipe.execute()
        return [
            Due(bucket, text(member))
            for bucket, members in zip(buckets, found, strict=True)
            for member in members
        ]

    def _soon(self, now: int) -> list[int]:
        """The buckets where this instance's own holds are due by `now` (forgotten once told:
        a bucket with more due than a batch is in the next leased sweep or the next hold's)."""
        due = [bucket for bucket, at in self._expiring.items() if at <= now]
        for bucket in due:
            del self._expiring[bucket]
        return due

    async def expire(self, due: Sequence[Due], now: int) -> int:
        """Expire those of `due` still held and due, a script per bucket; how many it expired."""
        if not due:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in due:
                pipe.hget(store_keys.reservation_in(entry.bucket, entry.id), "product_id")
            product_ids = await pipe.execute()
        groups = by_bucket(due, lambda entry: entry.bucket)
        calls = []
        for bucket, entries in groups.items():
            script_keys = [store_keys.bucket_expiry(bucket), store_keys.bucket_events(bucket)]
            for k, entry in entries:
                # A vanished reservation still gets a product key (of nothing) to keep pairs.
                found = product_ids[k]
                script_keys += [
                    store_keys.reservation_in(bucket, entry.id),
                    store_keys.product_in(bucket, text(found) if found else ""),
                ]
            args = [now, KEEP_FINAL_MS, *(entry.id for _, entry in entries)]
            calls.append((self._scripts.expire_reservations, script_keys, args))
        # A background sweep: its events go to the merged stream at once, for the near caches.
        replies = await self._writer.run_many(calls, every=True)
        return sum(int(expired) for expired in replies)


@dataclass(frozen=True)
class Due:
    """A reservation due to expire, in its bucket's expiry index."""

    bucket: int
    id: str


E = TypeVar("E")


def by_bucket(entries: Sequence[E], bucket: Callable[[E], Any]) -> dict[int, list[tuple[int, E]]]:
    """Entries grouped by bucket (int) or product id (its bucket), each with its position."""
    groups: dict[int, list[tuple[int, E]]] = defaultdict(list)
    for k, entry in enumerate(entries):
        found = bucket(entry)
        groups[found if isinstance(found, int) else bucket_of(found)].append((k, entry))
    return groups


def in_order(groups: dict[int, list[tuple[int, Any]]], replies: Sequence[Any], n: int) -> list[Any]:
    """Each group's script replies (one per entry) put back at their entries' positions."""
    ordered: list[Any] = [None] * n
    for entries, reply in zip(groups.values(), replies, strict=True):
        for (k, _), answer in zip(entries, reply, strict=True):
            ordered[k] = answer
    return ordered

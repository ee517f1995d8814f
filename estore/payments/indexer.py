"""The indexer of the admin-wide order listings (`{pay:ix}`), kept from the per-bucket events.

Every script that lists an order anew or moves its status appends an event (order id, version,
status, index member) to its bucket's stream, and its caller rings the process's doorbell
(`Doorbell`), sent to `{pay:ix}` with each indexer pass. The instance holding a bucket's sweep
lease reads the streams of the buckets rung (and each of its buckets' every SAFETY_SECONDS,
should a ring be lost) with the consumer group `indexer`, applies each event (index_apply.lua:
idempotent, never backwards by the order's version) and acknowledges it. On taking a bucket
over, it claims the entries its previous owner read but did not acknowledge (XAUTOCLAIM), so
every event is applied at least once. Admin listings therefore lag by `lag_ms`; a user's own
listing is exact. The machinery is shared with Inventory's indexer (estore.common.stream_indexer).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from redis.exceptions import RedisError

from estore.common.redis import RedisClient, text
from estore.common.stream_indexer import GROUP, StreamIndexer
from estore.payments.buckets import bucket_of_id
from estore.payments.keys import DOORBELL, IX, events_key, index, legacy_admin_index, range_of
from estore.payments.models import OrderStatus
from estore.payments.sweep_leases import BucketLeases

__all__ = ["GROUP", "Doorbell", "Indexer", "copy_legacy_listings"]
VERSIONS = f"{IX}:order-versions"
LEGACY_COPIED = f"{IX}:legacy-copied"
Event = tuple[str, str, str, str]  # order id, version, status, index member


class Indexer(StreamIndexer):
    """Applies the events of the buckets this instance holds; safe with several instances."""

    DOORBELL = DOORBELL
    METRIC = "estore_payments_indexer_lag_ms"
    METRIC_HELP = "Admin order listings' lag behind the order events, in milliseconds"
    TASK_NAME = "payments-indexer"
    log = logging.getLogger("estore.payments.indexer")

    def __init__(self, redis: RedisClient, leases: BucketLeases, interval: float = 0.1) -> None:
        super().__init__(redis, leases, interval)
        self._apply = redis.register_script(
            (Path(__file__).parent / "lua" / "index_apply.lua").read_text()
        )
        self._copied = False

    def stream_key(self, bucket: int) -> str:
        """The bucket's stream of order changes."""
        return events_key(bucket)

    async def apply_entries(self, entries: list[Any]) -> None:
        """Apply the order events to the admin listings."""
        await self.apply([_event(fields) for _, fields in entries if fields])

    async def before_pass(self) -> None:
        """Send the doorbell's rings; once, copy the listings kept before the indexer."""
        await Doorbell.of(self._redis).send()
        if not self._copied:
            await copy_legacy_listings(self._redis, self.apply)
            self._copied = True

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

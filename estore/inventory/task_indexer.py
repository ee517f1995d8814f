"""The indexer: applies every bucket's events to the global indexes, repairing a crash between a
product's write and its index step (store_index.py), and acknowledges them.

Each instance holds the leases of some ranges of buckets (estore.common.sweep_leases) and reads
those buckets' streams with the consumer group `indexer`: the buckets rung on the doorbell (the
writers' processes send the buckets they wrote once per pass, one ZADD), the buckets whose last
read was full, and each held bucket at least every SAFETY_SECONDS, should a ring be lost (a
process that died between the two steps of a write never sent its ring). On taking a bucket
over it claims what the previous holder read but did not acknowledge (XAUTOCLAIM), so every
event is applied at least once; index_apply.lua applies each at most once. `lag_ms` is how old
the oldest event of the last batch read was when it was applied. The machinery is shared with
Payments' indexer (estore.common.stream_indexer); this module says what is Inventory's.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from estore.common.buckets import RANGE, spans
from estore.common.redis import RedisClient, text
from estore.common.stream_indexer import StreamIndexer
from estore.common.sweep_leases import BucketLeases
from estore.inventory import store_keys
from estore.inventory.store_index import IndexWriter, as_event


def leases(redis: RedisClient, lease_seconds: float, instance: str | None = None) -> BucketLeases:
    """Inventory's bucket leases (shared by the indexer and the reservation sweeper)."""
    return BucketLeases(
        redis, lease_seconds, instance, prefix=f"{store_keys.PREFIX}:sweep", ranges=spans()
    )


class Indexer(StreamIndexer):
    """Applies the events of the buckets this instance holds; safe with several instances."""

    DOORBELL = store_keys.DOORBELL
    METRIC = "estore_inventory_indexer_lag_ms"
    METRIC_HELP = "How old the oldest bucket event of the indexer's last batch was, in ms"
    TASK_NAME = "inventory-indexer"
    READ_TAKEN = True  # its stream may hold what nobody applied yet
    log = logging.getLogger("estore.inventory.indexer")

    def __init__(
        self,
        redis: RedisClient,
        writer: IndexWriter,
        held: BucketLeases,
        interval: float = 0.1,
    ) -> None:
        super().__init__(redis, held, interval)
        self._writer = writer

    def stream_key(self, bucket: int) -> str:
        """The bucket's stream of product events."""
        return store_keys.bucket_events(bucket)

    async def apply_entries(self, entries: list[Any]) -> None:
        """Apply the product events to the global indexes, less those this process's writes
        applied already (most of them, when it holds the buckets it writes)."""
        applied_here = self._writer.applied_here
        await self._writer.apply(
            [
                as_event(i, fields)
                for i, fields in entries
                if fields and not applied_here(text(i), _product_of(fields))
            ]
        )

    async def before_pass(self) -> None:
        """Finish the writer's pending index steps, then send its rings."""
        await self._writer.flush()
        await self._send_rings()

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


def _product_of(fields: Any) -> str:
    """The product id of a bucket stream entry's fields (a mapping of bytes, as read)."""
    if isinstance(fields, dict):
        found = fields.get(b"product_id", fields.get("product_id"))
        return text(found) if found is not None else ""
    return as_event("", fields)[1].get("product_id", "")

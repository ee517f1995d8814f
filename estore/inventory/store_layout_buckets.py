"""Layout 4 (issue 14): a product's keys move from the one `{inv}` slot to its bucket's.

Layout 3 and older kept every key under `{inv}`: `inv:{inv}:product:<id>`, its analytics, and
`inv:{inv}:reservation:<id>` with one expiry index. Each product's hash and analytics are copied
to its bucket's keys (with its index entry, `ix`) and the old keys unlinked; each reservation,
held or final (with its time to live), goes to its product's bucket, its expiry index and its
claim (store_reservation_owners.py, with a time to live covering it). A batch is idempotent (an
old key gone was moved), so a migration that stops half way resumes. Old-version writers must be
stopped first. AdjustStock's applied markers of the old layout stay where they were (their
request-id records answer retries).
"""

from __future__ import annotations

from collections.abc import Sequence

from estore.common.buckets import bucket_of
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys, store_reservation_owners
from estore.inventory.codec_redis import as_hash, product_fields, product_from_hash
from estore.inventory.store_index import Event, IndexWriter, index_entry

OLD = store_keys.PREFIX  # the one slot of layout 3 and older
BATCH = 500


async def move_products(redis: RedisClient, ids: Sequence[str]) -> None:
    """Copy the products of `ids` still under the old slot to their buckets."""
    async with redis.pipeline(transaction=False) as pipe:
        for product_id in ids:
            pipe.hgetall(f"{OLD}:product:{product_id}")
            pipe.hgetall(f"{OLD}:analytics:{product_id}")
        found = await pipe.execute()
    moved = [
        (product_id, as_hash(record), as_hash(counters))
        for product_id, record, counters in zip(ids, found[::2], found[1::2], strict=True)
        if record
    ]
    if not moved:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for product_id, record, counters in moved:
            product = product_from_hash(record)
            ix = index_entry(product_id, product_fields(product), product.created_at)
            pipe.hset(store_keys.product(product_id), mapping=record | {"ix": ix})  # type: ignore[arg-type]
            if counters:
                pipe.hset(store_keys.analytics(product_id), mapping=counters)  # type: ignore[arg-type]
        await pipe.execute()
    old = [f"{OLD}:{kind}:{product_id}" for product_id, _, _ in moved for kind in _KINDS]
    await redis.unlink(*old)


_KINDS = ("product", "analytics")


async def move_reservations(redis: RedisClient, now: int) -> int:
    """Move every reservation of the old slot to its product's bucket; how many it moved."""
    moved = 0
    batch: list[str] = []
    async for key in redis.scan_iter(f"{OLD}:reservation:*", count=BATCH):
        batch.append(text(key))
        if len(batch) == BATCH:
            moved += await _move_reservations(redis, batch, now)
            batch = []
    return moved + (await _move_reservations(redis, batch, now) if batch else 0)


async def _move_reservations(redis: RedisClient, keys: Sequence[str], now: int) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
            pipe.pttl(key)
        found = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for record, ttl in zip(found[::2], found[1::2], strict=True):
            if not record:
                continue
            fields = as_hash(record)
            product_id, reservation_id = fields["product_id"], fields["id"]
            key = store_keys.reservation(product_id, reservation_id)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            if ttl > 0:
                pipe.pexpire(key, ttl)
            if fields["state"] == "HELD":
                expiry = store_keys.bucket_expiry(bucket_of(product_id))
                pipe.zadd(expiry, {reservation_id: int(fields["expires_at"])})
            existing = (reservation_id, product_id, fields["state"], int(fields["expires_at"]), ttl)
            store_reservation_owners.keep_claim(pipe, existing, now)
        await pipe.execute()
    await redis.unlink(*keys, f"{OLD}:reservations:expiry")
    return len(keys)


async def file_products(redis: RedisClient, writer: IndexWriter, ids: Sequence[str]) -> int:
    """Index the products of `ids` from their hashes, unless an event already did; how many."""
    async with redis.pipeline(transaction=False) as pipe:
        for product_id in ids:
            pipe.hmget(store_keys.product(product_id), "ix", "quantity", "min_stock_level")
        found = await pipe.execute()
    events: list[Event] = []
    for product_id, (ix, quantity, min_level) in zip(ids, found, strict=True):
        if ix is None:  # deleted meanwhile
            continue
        fields = {"type": "REINDEX", "product_id": product_id, "ix": text(ix)}
        events.append(("0-1", fields | {"quantity": text(quantity), "min": text(min_level)}))
    return await writer.apply(events)

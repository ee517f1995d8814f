"""Products in Redis: create, read, update and delete, keeping indexes exact; batched views."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from estore.common.buckets import bucket_of
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys, store_products_bulk
from estore.inventory.codec_redis import (
    PRODUCT_FIELDS,
    Hash,
    analytics_from_hash,
    as_hash,
    fields_hash,
    product_from_fields,
    product_from_hash,
)
from estore.inventory.errors import (
    CategoryNotFound,
    ConcurrentModification,
    ProductHasReservations,
    ProductNotFound,
)
from estore.inventory.models import Product, ProductAnalytics, ProductFields
from estore.inventory.store_errors import store_errors
from estore.inventory.store_index import IndexWriter, index_entry, new_record
from estore.inventory.store_scripts import Scripts

if TYPE_CHECKING:  # store_categories imports this module
    from estore.inventory.store_categories import CategoryStore

# Optimistic writes re-read and retry this often before answering ABORTED.
ATTEMPTS = 5
# How long a batch of views is remembered as added: far longer than any retry of it takes.
VIEWS_BATCH_MARK_SECONDS = 3600
NewRecord = store_products_bulk.NewRecord


def _status(reply: Sequence[Any]) -> str:
    return text(reply[0])


@store_errors
class ProductStore:
    """The product hashes, their analytics, and every index a product is in."""

    def __init__(
        self, redis: RedisClient, scripts: Scripts, writer: IndexWriter, categories: CategoryStore
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._writer = writer
        self._categories = categories

    async def _check_category(self, category_id: str) -> None:
        """CategoryNotFound unless the category exists. Read before the write, not atomic with
        it: the category lives in the index slot, the product in its bucket."""
        if category_id and not await self._categories.exists(category_id):
            raise CategoryNotFound(category_id)

    async def create(
        self, product_id: str, fields: ProductFields, quantity: int, created_by: int, now: int
    ) -> Product:
        """Store a new product and index it; CategoryNotFound if its category is gone."""
        await self._check_category(fields.category_id)
        record = new_record(product_id, fields, quantity, created_by, now)
        script_keys = [
            store_keys.product(product_id),
            store_keys.analytics(product_id),
            store_keys.bucket_events(bucket_of(product_id)),
        ]
        args = [json.dumps(record), product_id, record["created_at"]]
        reply = await self._writer.run(self._scripts.create_product, script_keys, args)
        if _status(reply) != "OK":
            raise ConcurrentModification()
        return product_from_hash(record)

    async def create_many(
        self, drafts: Sequence[NewRecord], created_by: int, now: int, *, apart_ms: int = 0
    ) -> None:
        """Store many new products with grouped commands (bulk loads; store_products_bulk.py);
        the k-th created at now + k * apart_ms; an id already there is kept."""
        await store_products_bulk.create_many(self._redis, drafts, created_by, now, apart_ms)

    async def get(self, product_id: str) -> Product | None:
        """The product, or None (one HMGET)."""
        return product_from_fields(
            await self._redis.hmget(store_keys.product(product_id), PRODUCT_FIELDS)
        )

    async def add_views(self, batch_id: str, views: Mapping[str, tuple[int, int]]) -> None:
        """Add one batch of views (product id -> (views, last viewed at)) to existing products,
        a few hundred products at most; a batch id already added is skipped."""
        by_bucket: dict[int, tuple[list[str], list[int]]] = {}
        for product_id, (count, last_viewed) in views.items():
            bucket = bucket_of(product_id)
            if bucket not in by_bucket:
                marker = store_keys.views_added(bucket, batch_id)
                by_bucket[bucket] = [marker], [VIEWS_BATCH_MARK_SECONDS]
            script_keys, args = by_bucket[bucket]
            script_keys += [store_keys.product(product_id), store_keys.analytics(product_id)]
            args += [count, last_viewed]
        await asyncio.gather(
            *(self._scripts.add_views(keys=k, args=a) for k, a in by_bucket.values())
        )

    async def get_many(self, product_ids: Sequence[str]) -> list[Product]:
        """The products that still exist among `product_ids`, in that order (one round trip)."""
        if not product_ids:
            return []
        by_bucket: dict[int, list[str]] = defaultdict(list)
        for product_id in product_ids:
            by_bucket[bucket_of(product_id)].append(product_id)
        replies = await asyncio.gather(
            *(
                self._scripts.get_products(
                    keys=[store_keys.product(product_id) for product_id in ids],
                    args=PRODUCT_FIELDS,
                )
                for ids in by_bucket.values()
            )
        )
        found = {
            product.id: product
            for reply in replies
            for product in map(product_from_fields, reply)
            if product is not None
        }
        return [found[product_id] for product_id in product_ids if product_id in found]

    async def _read(self, product_id: str) -> tuple[Product, Hash]:
        found = await self._redis.hgetall(store_keys.product(product_id))
        if not found:
            raise ProductNotFound(product_id)
        record = as_hash(found)
        return product_from_hash(record), record

    async def update(
        self, product_id: str, change: Callable[[Product], ProductFields], now: int
    ) -> Product:
        """Apply `change` to the current product and move it between indexes, atomically."""
        for _ in range(ATTEMPTS):
            current, record = await self._read(product_id)
            fields = change(current)
            if fields.category_id != current.category_id:
                await self._check_category(fields.category_id)
            reply = await self._update_once(current, record, fields, now)
            status = _status(reply)
            if status == "OK":
                return product_from_hash(as_hash(reply[1]))
            if status == "NOT_FOUND":
                raise ProductNotFound(product_id)
        raise ConcurrentModification()

    async def _update_once(
        self, current: Product, record: Hash, fields: ProductFields, now: int
    ) -> Any:
        changed = fields_hash(fields, current.id) | {"updated_at": str(now)}
        changed["ix"] = index_entry(current.id, fields, current.created_at)
        script_keys = [
            store_keys.product(current.id),
            store_keys.bucket_events(bucket_of(current.id)),
        ]
        args = [json.dumps(changed), record["rev"], now]
        return await self._writer.run(self._scripts.update_product, script_keys, args)

    async def delete(self, product_id: str, now: int) -> None:
        """Delete the product, its analytics and its index entries, unless stock is held."""
        for _ in range(ATTEMPTS):
            _, record = await self._read(product_id)
            script_keys = [
                store_keys.product(product_id),
                store_keys.analytics(product_id),
                store_keys.bucket_events(bucket_of(product_id)),
            ]
            reply = await self._writer.run(
                self._scripts.delete_product, script_keys, [record["rev"], now]
            )
            status = _status(reply)
            if status == "OK":
                return
            if status == "NOT_FOUND":
                raise ProductNotFound(product_id)
            if status == "HAS_RESERVATIONS":
                raise ProductHasReservations(product_id)
        raise ConcurrentModification()

    async def analytics(self, product_id: str) -> ProductAnalytics | None:
        """The product's counters, or None when there is no such product."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(store_keys.product(product_id))
            pipe.hgetall(store_keys.analytics(product_id))
            exists, counters = await pipe.execute()
        if not exists:
            return None
        return analytics_from_hash(product_id, as_hash(counters))

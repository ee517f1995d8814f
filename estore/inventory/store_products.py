"""Products in Redis: create, read, update and delete, keeping indexes exact; batched views."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys, store_products_bulk
from estore.inventory.codec_redis import (
    PRODUCT_FIELDS,
    Hash,
    analytics_from_hash,
    as_hash,
    fields_hash,
    new_product_hash,
    product_fields,
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
from estore.inventory.rules_words import name_words
from estore.inventory.store_errors import store_errors
from estore.inventory.store_scripts import Scripts

# Optimistic writes re-read and retry this often before answering ABORTED.
ATTEMPTS = 5
# How long a batch of views is remembered as added: far longer than any retry of it takes.
VIEWS_BATCH_MARK_SECONDS = 3600
NewRecord = store_products_bulk.NewRecord
# The keys that file a product under its category for subtree listings (see _lib.lua).
_FILING = [store_keys.CATEGORY_OF, store_keys.CATEGORY_PARENTS, store_keys.SUBTREE_PRODUCTS]


def _catalogue_keys(product_id: str) -> list[str]:
    """The keys every product write script touches first, in the order the scripts expect."""
    return [
        store_keys.product(product_id),
        store_keys.analytics(product_id),
        store_keys.BY_CREATED,
        store_keys.BY_PRICE,
        store_keys.BY_NAME,
        store_keys.BY_PRICE_NAMED,
        *store_keys.stock_sets(),
        store_keys.EVENTS,
        *_FILING,
    ]


def _static_sets(fields: ProductFields) -> tuple[int, list[str]]:
    """How many filter sets a product is in per flavour, and their keys as add_to_filters in
    _lib.lua takes them: by created_at, by price, by name, then the price band."""
    words = name_words(fields.name)
    keys = [
        key
        for flavour in store_keys.FLAVOURS
        for key in store_keys.product_sets(flavour, fields.category_id, fields.tags, words)
    ]
    return len(keys) // 3, [*keys, store_keys.price_band(store_keys.band_of(fields.price_minor))]


def _create_call(record: Hash, fields: ProductFields) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of create_product.lua for one new product's hash."""
    product_id = record["id"]
    n, filters = _static_sets(fields)
    category = [store_keys.category(fields.category_id)] if fields.category_id else []
    script_keys = [*_catalogue_keys(product_id), *category, *filters]
    args: list[str | int] = [
        json.dumps(record),
        product_id,
        record["sort_key"],
        record["created_at"],
        "1" if category else "0",
        n,
        fields.price_minor,
        fields.category_id,
    ]
    return script_keys, args


def _status(reply: Sequence[Any]) -> str:
    return text(reply[0])


@store_errors
class ProductStore:
    """The product hashes, their analytics, and every index a product is in."""

    def __init__(self, redis: RedisClient, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    async def create(
        self, product_id: str, fields: ProductFields, quantity: int, created_by: int, now: int
    ) -> Product:
        """Store a new product and index it; CategoryNotFound if its category is gone."""
        record = new_product_hash(product_id, fields, quantity, created_by, now)
        script_keys, args = _create_call(record, fields)
        reply = await self._scripts.create_product(keys=script_keys, args=args)
        if _status(reply) == "CATEGORY_NOT_FOUND":
            raise CategoryNotFound(fields.category_id)
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
        script_keys = [store_keys.views_added(batch_id)]
        args: list[int] = [VIEWS_BATCH_MARK_SECONDS]
        for product_id, (count, last_viewed) in views.items():
            script_keys += [store_keys.product(product_id), store_keys.analytics(product_id)]
            args += [count, last_viewed]
        await self._scripts.add_views(keys=script_keys, args=args)

    async def get_many(self, product_ids: Sequence[str]) -> list[Product]:
        """The products that still exist among `product_ids`, in that order (one round trip)."""
        if not product_ids:
            return []
        found = await self._scripts.get_products(
            keys=[store_keys.product(product_id) for product_id in product_ids],
            args=PRODUCT_FIELDS,
        )
        products = (product_from_fields(values) for values in found)
        return [product for product in products if product is not None]

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
            reply = await self._update_once(current, record, fields, now)
            status = _status(reply)
            if status == "OK":
                return product_from_hash(as_hash(reply[1]))
            if status == "NOT_FOUND":
                raise ProductNotFound(product_id)
            if status == "CATEGORY_NOT_FOUND":
                raise CategoryNotFound(fields.category_id)
        raise ConcurrentModification()

    async def _update_once(
        self, current: Product, record: Hash, fields: ProductFields, now: int
    ) -> Any:
        n_old, old_filters = _static_sets(product_fields(current))
        n_new, new_filters = _static_sets(fields)
        changed = fields_hash(fields, current.id) | {"updated_at": str(now)}
        category = [store_keys.category(fields.category_id)] if fields.category_id else []
        script_keys = [
            store_keys.product(current.id),
            store_keys.BY_PRICE,
            store_keys.BY_NAME,
            store_keys.BY_PRICE_NAMED,
            *store_keys.stock_sets(),
            store_keys.EVENTS,
            *_FILING,
            *category,
            *old_filters,
            *new_filters,
        ]
        args: list[str | int] = [
            json.dumps(changed),
            record["rev"],
            record["sort_key"],
            changed["sort_key"],
            fields.price_minor,
            "1" if category else "0",
            n_old,
            n_new,
            now,
            fields.category_id,
        ]
        return await self._scripts.update_product(keys=script_keys, args=args)

    async def delete(self, product_id: str, now: int) -> None:
        """Delete the product, its analytics and its index entries, unless stock is held."""
        for _ in range(ATTEMPTS):
            current, record = await self._read(product_id)
            n, filters = _static_sets(product_fields(current))
            reply = await self._scripts.delete_product(
                keys=[*_catalogue_keys(product_id), *filters], args=[record["rev"], n, now]
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

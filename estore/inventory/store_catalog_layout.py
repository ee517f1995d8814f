"""Brings listing indexes written by an older version up to the current layout, once, in batches.

Layout 2 (issue 11) keeps three structures that product and category writes now maintain: the
category of each product, each category's parent, and each subtree's product count; and it
keeps the name flavour of the filter sets as sorted sets in name order ("nl") instead of plain
sets ("nm"). Layout 3 keeps the category, tag and word sets as sorted sets by created_at ("cr")
and by price ("pr") instead of plain sets of ids, and every product in a price band, so that a
page walks the smallest ordered source. Data written before has none of that, so at start (and
before the first listing) every category and every product is brought up to date, a batch per
script call so that Redis is never held for long, and the old sets are unlinked. Each batch is
idempotent, so a re-index that stops half way resumes, and several instances may run it at
once. Old-version writers must be stopped first: they would not keep the new structures.

Layout 4 (issue 14) moves each product's keys to its bucket (store_layout_buckets.py) and files
it through index_apply.lua, which records what it indexed for the product.

Layout 5 changes no listing index: it moves the reservation -> product hash to one string per
reservation (store_layout_owners.py), so data at layout 4 is not re-indexed for it. That step
also runs at any start that finds the old hash again (written by an instance of the older
version during a rolling deploy).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys, store_layout_buckets, store_layout_owners
from estore.inventory.models import Clock, system_clock
from estore.inventory.store_errors import store_errors
from estore.inventory.store_index import IndexWriter
from estore.inventory.store_scripts import Scripts

LAYOUT_VERSION = 5
INDEXES_VERSION = 4  # the last layout that changed the listing indexes
BATCH = 500  # products or categories per script call: well under a millisecond each

log = logging.getLogger("estore.inventory")


@store_errors
class CatalogLayout:
    """Knows whether the listing indexes are at LAYOUT_VERSION, and re-indexes them if not."""

    def __init__(
        self,
        redis: RedisClient,
        scripts: Scripts,
        writer: IndexWriter,
        clock: Clock = system_clock,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._writer = writer
        self._clock = clock
        self._ready = False
        self._lock = asyncio.Lock()

    async def ready(self) -> None:
        """Return once the indexes are at the current layout (re-indexing them if needed)."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            version = int(await self._redis.get(store_keys.INDEX_VERSION) or 0)
            if version < INDEXES_VERSION:
                await self.reindex()
            elif version < LAYOUT_VERSION or await self._redis.exists(
                store_keys.OLD_RESERVATION_PRODUCTS
            ):
                await self.move_reservation_owners()
            self._ready = True

    async def reindex(self) -> tuple[int, int]:
        """Bring every category and product to the current layout; (categories, products)."""
        categories = await self._in_batches(store_keys.CATEGORIES_BY_NAME, self._file_categories)
        products = await self._in_batches(store_keys.BY_CREATED, self._file_products)
        await store_layout_buckets.move_reservations(self._redis, self._clock())
        await self._unlink_old_sets()
        await self.move_reservation_owners()
        if categories or products:
            log.info(
                "re-indexed the catalogue for listings",
                extra={"categories": categories, "products": products},
            )
        return categories, products

    async def move_reservation_owners(self) -> tuple[int, int]:
        """Layout 5's step: the old reservation -> product hash to one key per live
        reservation, then the layout's version; (moved, dropped)."""
        moved, dropped = await store_layout_owners.move_owners(self._redis, self._clock())
        await self._redis.set(store_keys.INDEX_VERSION, LAYOUT_VERSION)
        if moved or dropped:
            log.info(
                "moved the reservation ids' products to keys of their own",
                extra={"moved": moved, "dropped": dropped},
            )
        return moved, dropped

    async def _in_batches(self, index: str, handle: Callable[[list[str]], Awaitable[int]]) -> int:
        # ZSCAN returns every member present from start to end at least once: writes meanwhile
        # file themselves, and filing twice changes nothing.
        done, cursor = 0, 0
        while True:
            cursor, found = await self._redis.zscan(index, cursor, count=BATCH)
            ids = [text(member).rpartition("\0")[2] for member, _ in found]
            if ids:
                done += await handle(ids)
            if cursor == 0:
                return done

    async def _file_categories(self, ids: list[str]) -> int:
        script_keys = [store_keys.CATEGORY_PARENTS, *(store_keys.category(c) for c in ids)]
        return int(await self._scripts.reindex_categories(keys=script_keys))

    async def _file_products(self, ids: list[str]) -> int:
        await store_layout_buckets.move_products(self._redis, ids)
        return await store_layout_buckets.file_products(self._redis, self._writer, ids)

    async def _unlink_old_sets(self) -> None:
        """Unlink the plain filter sets of older layouts (the zsets beside them stay)."""
        for pattern in (store_keys.OLD_NAME_SETS, *store_keys.OLD_ID_SETS):
            async for key in self._redis.scan_iter(pattern, count=BATCH, _type="set"):
                await self._redis.unlink(key)

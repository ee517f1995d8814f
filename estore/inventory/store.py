"""InventoryService's Redis store: one facade over the product, category, stock, index and
event stores (store_*.py, store_catalog.py), which are the only modules that send Redis commands.

Key layout (store_keys.py). A product's own keys carry its bucket's hash tag `{inv:<b>}`, where
b = crc32(product id) % 1024 (estore.common.buckets), so products spread over every master of a
Redis Cluster; the listing indexes, categories and the merged event stream carry `{inv}`:

    inv:{inv:<b>}:product:<id>          hash: fields, price_minor, quantity/reserved/sold/added,
                                        created_at/updated_at (epoch ms), rev, sort_key, ix
                                        (its index entry: what index_apply.lua files it under)
    inv:{inv:<b>}:analytics:<id>        hash: views, last_viewed, stock_updates, last_stock_update
    inv:{inv:<b>}:reservation:<id>      hash (in its product's bucket); kept 24 h once final
    inv:{inv:<b>}:reservations:expiry   zset of the bucket's held reservation ids by expires_at
    inv:{inv:<b>}:events                stream of the bucket's events, each with the product's
                                        index entry (read by the indexer's group `indexer`)
    inv:{inv:<b>}:adjust_applied:<sha>  marker: AdjustStock changed stock; its fingerprint (24 h)
    inv:{inv:<b>}:views_added:<batch>   marker: a batch of views was added to this bucket
    inv:{inv}:events                    the merged stream, XADD MAXLEN ~ 10000 (index_apply.lua;
                                        read by WatchInventory and the near cache)
    inv:{inv}:indexed                   hash: product id -> "<event id>|<stock state>|<entry>",
                                        the last event applied to the indexes for it
    inv:{inv}:reservation-product:<r>   string: the product id reservation id r is claimed for
                                        (SET NX before its hold); lives as long as the
                                        reservation and a day more, then r is free again
    inv:{inv}:reservation-products      hash: the same for every id ever claimed, as layout 4
                                        and older kept it; read for ids with no key, emptied
                                        at start (store_layout_owners.py)
    inv:{inv}:indexer:rung              zset: buckets with new events (the indexer's doorbell)
    inv:{inv}:sweep:sweepers, :sweep:sweep-lease:<i>   the bucket leases (sweep and indexer)
    inv:{inv}:category:<id>             hash: id, name, description, parent_id, sort_key
    inv:{inv}:category:<id>:children    zset, score 0, "<lower name>\\0<child id>"
    inv:{inv}:categories:roots          the same for root categories
    inv:{inv}:categories:by_name        the same for every category
    inv:{inv}:categories:parents        hash: category id -> parent id ("" for a root)
    inv:{inv}:categories:subtree_products  hash: category id -> products in its subtree
    inv:{inv}:ix:id:created|price       zset of product ids by created_at | price_minor
    inv:{inv}:ix:nm:name                zset, score 0, "<lower name>\\0<id>" (ZRANGE BYLEX)
    inv:{inv}:ix:nm:price               zset of "<lower name>\\0<id>" by price_minor
    inv:{inv}:ix:id:in_stock            set of ids: quantity > 0 (nl: zset of name members)
    inv:{inv}:ix:id:low_stock           set of ids: quantity <= min_stock_level (nl: the same)
    inv:{inv}:ix:<cr|pr|nl>:category:<c>  zset: products filed directly under category c, by
                                        created_at (cr), price (pr) or name (nl, score 0)
    inv:{inv}:ix:<cr|pr|nl>:tag:<t>     zset: products tagged t, likewise
    inv:{inv}:ix:<cr|pr|nl>:word:<w>    zset: products whose name has the word w, likewise
    inv:{inv}:ix:cr:price_band:<b>      zset by created_at: products whose price has b bits
    inv:{inv}:ix:id:category_of         hash: product id -> category id ("" for none)
    inv:{inv}:ix:version                the listing layout the data is at (store_catalog_layout.py)
    inv:{inv}:idem:<rpc>:<rid>          AIP-155 request-id records (estore.common.idempotency)
    inv:{inv}:page_token_secret         shared page-token key when none is configured

Why two steps per product write (store_index.py): the catalogue indexes are global (a price
index, a tag set, a word set spans every product) and a Redis Cluster script may only touch one
slot. A product's script changes it on its bucket's slot and appends an event carrying its
whole index entry; its caller then applies the event to the indexes on `{inv}` (idempotent,
never backwards by the event's id), and the indexer (task_indexer.py) applies every event
again from the bucket streams, repairing a process that died between the two. Listings are
therefore exact for this instance's writes and within the indexer's lag for others'; the stock
check at purchase and every counter stay exact on the product's shard. Scripts take every key
in KEYS, but index_apply.lua, which files a product under the keys its entry names (all in its
own slot).

Why each filter set is kept once per order: a page walks the smallest source that is in its
order (the order index or a filter, from the cursor) and tests each row against the other
filters (ZMSCORE, SMISMEMBER), so a page reads about as many rows as it returns; the name
order's members sort by name ("<lower name>\\0<id>") while the created_at and price orders' are
plain ids (ties broken by id). The stock sets, written by every reservation, are only tested.

A small subtree is walked as its categories' sets merged in order; a large one is tested lazily
(store_catalog.py): a row is in category C's subtree when walking up from its category
(category_of, then categories:parents) reaches C. A category move changes one
parent and carries the subtree's product count along, O(depth), however large the subtree.
"""

from __future__ import annotations

import secrets

from estore.common.idempotency import Idempotency
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.store_catalog import DEFAULT_ROW_BUDGET, CatalogIndex
from estore.inventory.store_catalog_layout import CatalogLayout
from estore.inventory.store_categories import CategoryStore
from estore.inventory.store_errors import store_errors
from estore.inventory.store_events import EventLog
from estore.inventory.store_index import IndexWriter
from estore.inventory.store_products import ProductStore
from estore.inventory.store_scripts import Scripts
from estore.inventory.store_stock import StockStore


@store_errors
class InventoryStore:
    """Everything InventoryService keeps in Redis."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        reader: RedisClient | None = None,
        row_budget: int = DEFAULT_ROW_BUDGET,
    ) -> None:
        self.redis = redis
        self.scripts = Scripts.register(redis)
        self.index = IndexWriter(redis, self.scripts)
        self.categories = CategoryStore(redis, self.scripts)
        self.products = ProductStore(redis, self.scripts, self.index, self.categories)
        self.stock = StockStore(redis, self.scripts, self.index)
        self.layout = CatalogLayout(redis, self.scripts, self.index)
        self.catalog = CatalogIndex(
            redis,
            self.scripts,
            self.categories,
            row_budget=row_budget,
            layout_ready=self.layout.ready,
        )
        self.events = EventLog(redis, self.scripts, reader)
        self.idempotency = Idempotency(redis, store_keys.IDEMPOTENCY_PREFIX)

    async def load_scripts(self) -> None:
        """Send every script to Redis now (they load themselves on first use otherwise)."""
        await self.scripts.load(self.redis)

    async def shared_page_token_secret(self) -> bytes:
        """A random secret stored once (SET NX), so every instance signs page tokens alike."""
        await self.redis.set(store_keys.PAGE_TOKEN_SECRET, secrets.token_hex(32), nx=True)
        stored = await self.redis.get(store_keys.PAGE_TOKEN_SECRET)
        if stored is None:  # deleted in between: try once more
            return await self.shared_page_token_secret()
        return text(stored).encode()

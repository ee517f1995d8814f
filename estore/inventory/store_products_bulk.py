"""Many new products at once (bulk loads): a few grouped commands instead of a script each.

create_product.lua files one product with some thirty commands, so a million products would
cost thirty million. Here a batch is checked first (which ids are there already, whether each
category exists), then written as one HSET per product hash and its analytics, one XADD per
PRODUCT_CREATED event, and one variadic ZADD, SADD, HSET or HINCRBY per index key for the whole
batch. The keys end up as create_product.lua would have left them (the bulk catalogue test
compares the two key by key). A batch is not atomic: the hashes go first, so a listing that
reads an index entry always finds its product; a reader may meanwhile miss a product that is
not indexed yet, as it would have before its CreateProduct.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from redis.asyncio import Redis

from estore.common.redis import text
from estore.inventory import store_keys
from estore.inventory.codec_redis import new_product_hash
from estore.inventory.errors import CategoryNotFound
from estore.inventory.models import ProductFields
from estore.inventory.rules_words import name_words

NewRecord = tuple[str, ProductFields, int]  # id, fields, initial quantity
EVENT_MAXLEN = 10_000  # as _lib.lua's emit


class _Batch:
    """The commands of one batch, grouped by index key."""

    def __init__(self) -> None:
        self.zadd: dict[str, list[str | int]] = defaultdict(list)
        self.sadd: dict[str, list[str]] = defaultdict(list)
        self.category_of: list[str] = []
        self.in_category: dict[str, int] = defaultdict(int)

    def index(self, product_id: str, fields: ProductFields, quantity: int, now: int) -> str:
        """Group every index entry of one new product; returns its name sort member."""
        member = f"{fields.name.lower()}\0{product_id}"
        price = fields.price_minor
        self.zadd[store_keys.BY_CREATED] += [now, product_id]
        self.zadd[store_keys.BY_PRICE] += [price, product_id]
        self.zadd[store_keys.BY_NAME] += [0, member]
        self.zadd[store_keys.BY_PRICE_NAMED] += [price, member]
        words = name_words(fields.name)
        for flavour, score, entry in (
            (store_keys.CREATED, now, product_id),
            (store_keys.PRICED, price, product_id),
            (store_keys.NAME, 0, member),
        ):
            for key in store_keys.product_sets(flavour, fields.category_id, fields.tags, words):
                self.zadd[key] += [score, entry]
        self.zadd[store_keys.price_band(store_keys.band_of(price))] += [now, product_id]
        stock = [(quantity > 0, store_keys.in_stock)]
        stock.append((quantity <= fields.min_stock_level, store_keys.low_stock))
        for held, key_of in stock:
            if held:
                self.sadd[key_of(store_keys.ID)].append(product_id)
                self.zadd[key_of(store_keys.NAME)] += [0, member]
        self.category_of += [product_id, fields.category_id]
        if fields.category_id:
            self.in_category[fields.category_id] += 1
        return member


def _flat(record: dict[str, str]) -> list[str]:
    return [item for pair in record.items() for item in pair]


async def _missing_and_present(
    redis: Redis, drafts: Sequence[NewRecord]
) -> tuple[list[str], set[str]]:
    """The categories named that do not exist, and the product ids that do already."""
    categories = sorted({fields.category_id for _, fields, _ in drafts if fields.category_id})
    async with redis.pipeline(transaction=False) as pipe:
        for category in categories:
            pipe.exists(store_keys.category(category))
        for product_id, _, _ in drafts:
            pipe.exists(store_keys.product(product_id))
        found = await pipe.execute()
    missing = [c for c, there in zip(categories, found, strict=False) if not there]
    ids = [product_id for product_id, _, _ in drafts]
    present = {i for i, there in zip(ids, found[len(categories) :], strict=True) if there}
    return missing, present


async def _ancestors(redis: Redis, categories: Sequence[str]) -> dict[str, list[str]]:
    """Each category with its ancestors, itself first (a level per round trip)."""
    chains = {category: [category] for category in categories}
    walking = list(categories)
    for _ in range(1_000):  # as _lib.lua's MAX_DEPTH
        if not walking:
            break
        parents = await redis.hmget(store_keys.CATEGORY_PARENTS, [chains[c][-1] for c in walking])
        still = []
        for category, parent in zip(walking, parents, strict=True):
            if parent and text(parent):
                chains[category].append(text(parent))
                still.append(category)
        walking = still
    return chains


async def create_many(redis: Redis, drafts: Sequence[NewRecord], created_by: int, now: int) -> int:
    """Store the new products among `drafts` (an id already there is kept); how many were new.
    CategoryNotFound, before anything is written, when a category does not exist."""
    missing, present = await _missing_and_present(redis, drafts)
    if missing:
        raise CategoryNotFound(missing[0])
    batch = _Batch()
    async with redis.pipeline(transaction=False) as pipe:
        for product_id, fields, quantity in drafts:
            if product_id in present:
                continue
            record = new_product_hash(product_id, fields, quantity, created_by, now)
            pipe.execute_command("HSET", store_keys.product(product_id), *_flat(record))
            pipe.execute_command(
                "HSET", store_keys.analytics(product_id), "views", 0, "stock_updates", 0
            )
            batch.index(product_id, fields, quantity, now)
            pipe.execute_command("XADD", store_keys.EVENTS, "MAXLEN", "~", EVENT_MAXLEN, "*",
                                 "type", "PRODUCT_CREATED", "product_id", product_id,
                                 "quantity", quantity, "reserved", 0, "delta", 0, "reason", "",
                                 "at", now)  # fmt: skip
        if not batch.category_of:
            return 0
        for key, entries in batch.zadd.items():
            pipe.execute_command("ZADD", key, *entries)
        for key, members in batch.sadd.items():
            pipe.sadd(key, *members)
        pipe.execute_command("HSET", store_keys.CATEGORY_OF, *batch.category_of)
        chains = await _ancestors(redis, list(batch.in_category))
        counts: dict[str, int] = defaultdict(int)
        for category, added in batch.in_category.items():
            for node in chains[category]:
                counts[node] += added
        for node, added in counts.items():
            pipe.hincrby(store_keys.SUBTREE_PRODUCTS, node, added)
        await pipe.execute()
    return len(batch.category_of) // 2

"""Many new products at once (bulk loads): a few grouped commands instead of a script each.

CreateProduct writes a product in its bucket and then some thirty index commands, so a million
products would cost thirty million. Here a batch is checked first (which ids are there already,
whether each category exists), then written as one HSET per product hash and its analytics (to
the server of each bucket), then one variadic ZADD, SADD, HSET or HINCRBY per index key for the
whole batch (to the index slot's server, with each product's index record as index_apply.lua
keeps it), and last one XADD per PRODUCT_CREATED event to the merged stream. The bulk load
writes no bucket events: it indexes the products itself. The commands are packed by hiredis (C)
and their replies read off one connection per server, which is several times faster than
redis-py's pipeline for hundreds of thousands of commands. The index keys end up as the
indexer would have left them. A batch is not atomic: the hashes go first, so a listing that
reads an index entry always finds its product; a reader may meanwhile miss a product that is
not indexed yet, as it would have before its CreateProduct.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import hiredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import ClusterDownError, ResponseError

from estore.common.buckets import bucket_of
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.errors import CategoryNotFound
from estore.inventory.models import ProductFields
from estore.inventory.rules_words import name_words
from estore.inventory.store_index import new_record

NewRecord = tuple[str, ProductFields, int]  # id, fields, initial quantity
Command = tuple[str | int, ...]
EVENT_MAXLEN = 10_000  # as _lib.lua's emit
CHUNK = 2_000  # commands sent before their replies are read
# Bytes sent at once: written within the socket timeout even while Redis is busy with another
# connection's chunk (a batch's grouped ZADDs alone run to megabytes).
CHUNK_BYTES = 256 * 1024
CHUNK_TIMEOUT = 30.0  # seconds for a chunk's replies


class _Batch:
    """The commands of one batch, grouped by index key."""

    def __init__(self) -> None:
        self.zadd: dict[str, list[str | int]] = defaultdict(list)
        self.sadd: dict[str, list[str]] = defaultdict(list)
        self.category_of: list[str] = []
        self.indexed: list[str] = []
        self.in_category: dict[str, int] = defaultdict(int)

    def index(
        self, product_id: str, fields: ProductFields, quantity: int, now: int, ix: str
    ) -> str:
        """Group every index entry of one new product (`ix`: its hash's index entry); returns its
        name sort member."""
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
        state = "".join("1" if held else "0" for held, _ in stock)
        # Applied as of no event: the product's first event is newer (index_apply.lua).
        self.indexed += [product_id, f"0-0|{state}|{ix}"]
        self.category_of += [product_id, fields.category_id]
        if fields.category_id:
            self.in_category[fields.category_id] += 1
        return member


def _flat(record: dict[str, str]) -> list[str]:
    return [item for pair in record.items() for item in pair]


@dataclass(frozen=True)
class PackedBatch:
    """One batch's writes packed as RESP (chunks of bytes and how many commands each holds),
    and how many products it files under each category (the subtree counts need the tree)."""

    chunks: tuple[tuple[bytes, int], ...]  # the index slot's writes
    products: int
    in_category: dict[str, int]
    buckets: dict[int, tuple[Command, ...]] = field(default_factory=dict)  # each one's writes


def _packed(commands: Sequence[Command]) -> list[tuple[bytes, int]]:
    """The commands packed, in chunks of at most CHUNK commands or about CHUNK_BYTES."""
    chunks: list[tuple[bytes, int]] = []
    parts: list[bytes] = []
    size = 0
    for command in commands:
        # hiredis's stub types a command as a 1-tuple; any tuple of str and int is packed.
        packed = hiredis.pack_command(command)  # type: ignore[arg-type]
        parts.append(packed)
        size += len(packed)
        if len(parts) >= CHUNK or size >= CHUNK_BYTES:
            chunks.append((b"".join(parts), len(parts)))
            parts, size = [], 0
    if parts:
        chunks.append((b"".join(parts), len(parts)))
    return chunks


@contextlib.asynccontextmanager
async def _connection(redis: RedisClient, key: str) -> AsyncIterator[Connection]:
    """A connection to the server that holds `key` (a node of a cluster)."""
    if isinstance(redis, RedisCluster):
        node = await _node(redis, key)
        async with redis.permit():  # counted among the client's connections, as every call
            connection = node.acquire_connection()
            try:
                yield connection
            finally:
                node.release(connection)
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        yield connection
    finally:
        await pool.release(connection)


async def _node(redis: RedisCluster, key: str) -> ClusterNode:
    """The node that serves `key`'s slot."""
    if not redis.get_nodes():
        await redis.initialize()
    node = redis.get_node_from_key(key)
    if node is None:  # no node serves the slot: the cluster is failing over
        raise ClusterDownError(f"no node serves the slot of {key}")
    return node


async def _send(
    redis: RedisClient, chunks: Sequence[tuple[bytes, int]], key: str = store_keys.EVENTS
) -> list[object]:
    """Send the chunks on one connection to the server of `key`, reading each one's replies
    before the next (so that Redis's reply buffer never fills while nobody reads it);
    ResponseError: the first error, after every reply is read."""
    async with _connection(redis, key) as connection:
        return await _exchange(connection, chunks)


async def _send_buckets(redis: RedisClient, buckets: dict[int, tuple[Command, ...]]) -> None:
    """Send each bucket's writes to its server, the servers at once."""
    by_server: dict[str, tuple[str, list[Command]]] = {}
    for bucket, commands in buckets.items():
        key = store_keys.tag(bucket)
        server = (await _node(redis, key)).name if isinstance(redis, RedisCluster) else ""
        by_server.setdefault(server, (key, []))[1].extend(commands)
    await asyncio.gather(
        *(_send(redis, _packed(commands), key) for key, commands in by_server.values())
    )


async def _exchange(connection: Connection, chunks: Sequence[tuple[bytes, int]]) -> list[object]:
    """The replies of every chunk, sent one after the other on `connection`."""
    replies: list[object] = []
    error: ResponseError | None = None
    try:
        for packed, count in chunks:
            await connection.send_packed_command(packed, check_health=False)
            async with asyncio.timeout(CHUNK_TIMEOUT):  # one timer per chunk, not per reply
                for _ in range(count):
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as failed:
                        error = error or failed
                        replies.append(failed)
    except BaseException:
        await connection.disconnect()
        raise
    if error is not None:
        raise error
    return replies


async def _ancestors(redis: RedisClient, categories: Sequence[str]) -> dict[str, list[str]]:
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


def pack(
    drafts: Sequence[NewRecord],
    created_by: int,
    now: int,
    apart_ms: int = 0,
    skip: frozenset[str] = frozenset(),
) -> PackedBatch:
    """The writes that create the products of `drafts` but those in `skip`, the k-th created at
    now + k * apart_ms. No I/O, so that worker processes can build batches."""
    batch, writes, events = _Batch(), list[Command](), list[Command]()
    buckets: dict[int, list[Command]] = defaultdict(list)
    for k, (product_id, fields, quantity) in enumerate(drafts):
        if product_id in skip:
            continue
        created = now + k * apart_ms
        record = new_record(product_id, fields, quantity, created_by, created)
        own = buckets[bucket_of(product_id)]
        own.append(("HSET", store_keys.product(product_id), *_flat(record)))
        own.append(("HSET", store_keys.analytics(product_id), "views", 0, "stock_updates", 0))
        batch.index(product_id, fields, quantity, created, record["ix"])
        events.append(("XADD", store_keys.EVENTS, "MAXLEN", "~", EVENT_MAXLEN, "*",
                       "type", "PRODUCT_CREATED", "product_id", product_id,
                       "quantity", quantity, "reserved", 0, "delta", 0, "reason", "",
                       "at", created))  # fmt: skip
    if not batch.category_of:
        return PackedBatch((), 0, {})
    writes += [("ZADD", key, *entries) for key, entries in batch.zadd.items()]
    writes += [("SADD", key, *members) for key, members in batch.sadd.items()]
    writes.append(("HSET", store_keys.CATEGORY_OF, *batch.category_of))
    writes.append(("HSET", store_keys.INDEXED, *batch.indexed))
    # The events last: a reader that sees one finds the product indexed (the near caches of
    # running instances forget their listing pages on it).
    writes += events
    return PackedBatch(
        tuple(_packed(writes)),
        len(batch.category_of) // 2,
        batch.in_category,
        {bucket: tuple(commands) for bucket, commands in buckets.items()},
    )


async def write(redis: RedisClient, batch: PackedBatch) -> int:
    """Send a packed batch and count its products in their subtrees; how many it created."""
    if not batch.products:
        return 0
    await _send_buckets(redis, batch.buckets)
    await _send(redis, batch.chunks)
    chains = await _ancestors(redis, list(batch.in_category))
    counts: dict[str, int] = defaultdict(int)
    for category, added in batch.in_category.items():
        for node in chains[category]:
            counts[node] += added
    increments: list[Command] = [
        ("HINCRBY", store_keys.SUBTREE_PRODUCTS, node, added) for node, added in counts.items()
    ]
    await _send(redis, _packed(increments))
    return batch.products


async def present(
    redis: RedisClient, ids: Sequence[str], categories: Sequence[str] = ()
) -> frozenset[str]:
    """The products among `ids` already there; CategoryNotFound if a category is missing."""
    async with redis.pipeline(transaction=False) as pipe:
        for category in categories:
            pipe.exists(store_keys.category(category))
        for product_id in ids:
            pipe.exists(store_keys.product(product_id))
        found = await pipe.execute()
    for category, there in zip(categories, found, strict=False):
        if not there:
            raise CategoryNotFound(category)
    return frozenset(i for i, there in zip(ids, found[len(categories) :], strict=True) if there)


async def create_many(
    redis: RedisClient, drafts: Sequence[NewRecord], created_by: int, now: int, apart_ms: int = 0
) -> int:
    """Store the new products among `drafts` (an id already there is kept); how many were new.
    The k-th is created at now + k * apart_ms. CategoryNotFound, before anything is written,
    when a category does not exist."""
    categories = sorted({fields.category_id for _, fields, _ in drafts if fields.category_id})
    skip = await present(redis, [product_id for product_id, _, _ in drafts], categories)
    return await write(redis, pack(drafts, created_by, now, apart_ms, skip))

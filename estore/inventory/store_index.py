"""The second step of every product write: its bucket's events applied to the global indexes.

A product's script runs on its bucket's slot and appends events to the bucket's stream, each
carrying the product's whole index entry (store_keys.py); it returns them, and `IndexWriter.run`
applies them at once with index_apply.lua on the index slot `{inv}` (idempotent, never
backwards), which also appends each to the merged stream that watchers and near caches follow.
This instance's writes are therefore listed when its call returns. A stock change that
moves the product between no stock sets changes no listing: its events are left to the
indexer, which appends them to the merged stream within its lag (one index call fewer per
hold): the writing process applies them in one batch at its indexer's next pass (`flush`,
every 0.1 s), and a product's next event that changes a listing brings them along first, so
that the merged stream keeps each product's events in order. Should the process die between the two
steps, the indexer (task_indexer.py) applies the events from the bucket's stream: listings and
other instances then see the change within the indexer's lag.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from estore.common.buckets import bucket_of
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import Hash, new_product_hash, sort_member
from estore.inventory.models import ProductFields
from estore.inventory.rules_words import name_words
from estore.inventory.store_scripts import Scripts

# The fields of a bucket event, in the order index_apply.lua takes them (as _lib.lua's emit).
EVENT_FIELDS = (
    "type", "product_id", "quantity", "reserved", "delta", "reason", "at", "ix", "min", "sync",
)  # fmt: skip
APPLY_BATCH = 500  # events per index_apply.lua call
DEFERRED_KEPT = 100_000  # events left for `flush` kept at most (Redis down: the indexer has them)
# Events this process applied, remembered until its indexer reads them from their bucket (at
# most this many: another instance's indexer reads the buckets this one does not hold).
APPLIED_KEPT = 50_000
INDEX_KEYS = [
    store_keys.INDEXED,
    store_keys.BY_CREATED,
    store_keys.BY_PRICE,
    store_keys.BY_NAME,
    store_keys.BY_PRICE_NAMED,
    *store_keys.stock_sets(),
    store_keys.EVENTS,
    store_keys.CATEGORY_OF,
    store_keys.CATEGORY_PARENTS,
    store_keys.SUBTREE_PRODUCTS,
]
Event = tuple[str, dict[str, str]]  # bucket stream id, fields
Call = tuple[Any, Sequence[str], Sequence[Any]]  # script, keys, args


def as_event(event_id: Any, fields: Any) -> Event:
    """A stream entry (a mapping, or the flat list a script returns) as an Event."""
    if isinstance(fields, dict):
        return text(event_id), {text(k): text(v) for k, v in fields.items()}
    pairs = [text(v) for v in fields]
    return text(event_id), dict(zip(pairs[::2], pairs[1::2], strict=True))


def _static_sets(fields: ProductFields) -> tuple[int, list[str]]:
    """How many filter sets a product is in per flavour, and their keys as index_apply.lua
    takes them: by created_at, by price, by name, then the price band."""
    words = name_words(fields.name)
    keys = [
        key
        for flavour in store_keys.FLAVOURS
        for key in store_keys.product_sets(flavour, fields.category_id, fields.tags, words)
    ]
    return len(keys) // 3, [*keys, store_keys.price_band(store_keys.band_of(fields.price_minor))]


def index_entry(product_id: str, fields: ProductFields, created_at: int) -> str:
    """The product's index entry (its hash's `ix`, carried by each of its events): everything
    index_apply.lua needs to list it. Numbers as text: Lua would print a large one inexactly."""
    n, sets = _static_sets(fields)
    entry = {
        "n": n,
        "sets": sets,
        "member": sort_member(fields.name, product_id),
        "created": str(created_at),
        "price": str(fields.price_minor),
        "category": fields.category_id,
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def new_record(
    product_id: str, fields: ProductFields, quantity: int, created_by: int, now: int
) -> Hash:
    """A new product's hash, with its index entry."""
    record = new_product_hash(product_id, fields, quantity, created_by, now)
    return record | {"ix": index_entry(product_id, fields, now)}


class IndexWriter:
    """Runs bucket scripts and applies their events to the indexes; rings the doorbell."""

    def __init__(self, redis: RedisClient, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts
        self.rung: set[int] = set()  # buckets written since the indexer last sent the rings
        self.deferred: list[Event] = []  # events that change no listing, applied by `flush`
        self._applied: dict[tuple[str, str], bool] = {}  # (event id, product id), oldest first

    async def run(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run an emitting script (store_scripts.EMITTING), apply its events; its reply."""
        (reply,) = await self.run_many([(script, keys, args)])
        return reply

    async def run_many(self, calls: Iterable[Call], *, every: bool = False) -> list[Any]:
        """`run` for scripts of several buckets at once, their events applied in one call
        (`every`: also those that change no listing, which are otherwise the indexer's)."""
        answers = await asyncio.gather(*(script(keys=k, args=a) for script, k, a in calls))
        events = [as_event(entry[0], entry[1]) for _, emitted in answers for entry in emitted or ()]
        self.rung.update(bucket_of(fields["product_id"]) for _, fields in events)
        # Events that change no listing are the indexer's (they need no read-your-writes), or
        # applied with their product's next synced event (_lib.lua's catch_up).
        synced = {fields["product_id"] for _, fields in events if fields.get("sync") != "0"}
        now = [e for e in events if every or e[1]["product_id"] in synced]
        self.deferred += [e for e in events if not (every or e[1]["product_id"] in synced)]
        del self.deferred[:-DEFERRED_KEPT]  # the bucket's indexer applies what is dropped
        await self.apply(now)
        self._remember(now)
        return [reply for reply, _ in answers]

    async def flush(self) -> int:
        """Apply the events left for later (the indexer's pass calls it): in one batch, sooner
        than the bucket's lease holder reads them; it skips them then. How many were new."""
        deferred, self.deferred = self.deferred, []
        try:
            applied = await self.apply(deferred)
        except Exception:
            self.deferred = deferred + self.deferred
            raise
        self._remember(deferred)
        return applied

    async def apply(self, events: Sequence[Event]) -> int:
        """Apply events to the indexes (each at most once); how many were new."""
        applied = 0
        for start in range(0, len(events), APPLY_BATCH):
            args: list[str] = []
            for event_id, fields in events[start : start + APPLY_BATCH]:
                args += [event_id, *(fields.get(name, "") for name in EVENT_FIELDS)]
            applied += int(await self._scripts.index_apply(keys=INDEX_KEYS, args=args))
        return applied

    def _remember(self, events: Sequence[Event]) -> None:
        """Note the events this process's writes applied, for `applied_here`."""
        applied = self._applied
        for event_id, fields in events:
            applied[event_id, fields.get("product_id", "")] = True
        for key in list(islice(applied, max(0, len(applied) - APPLIED_KEPT))):
            del applied[key]

    def applied_here(self, event_id: str, product_id: str) -> bool:
        """Whether this process applied the event already (its indexer need not send it to
        index_apply.lua again, which would skip it); asked once per event."""
        return self._applied.pop((event_id, product_id), False)

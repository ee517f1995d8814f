"""Products in per-product buckets: the indexer repairs a write whose index step never ran,
instances share the buckets through leases, a watcher's cursor spans every bucket, and the
reservation sweep covers the buckets leased."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from estore.common.buckets import BUCKETS, bucket_of
from estore.common.sweep_leases import BucketLeases
from estore.inventory import store_keys
from estore.inventory.models import ProductFields, ProductFilter
from estore.inventory.store_events import EVERYTHING
from estore.inventory.store_index import Event, IndexWriter, new_record
from estore.inventory.task_indexer import Indexer, leases
from tests.integration.inventory.conftest import SERVICE, Inventory, build_inventory

LEASE = 1.0
MINUTE = 60_000


async def _listed(inventory: Inventory, query: str) -> list[str]:
    page = await inventory.products.list_products(ProductFilter(query=query), "name", 50, "")
    return [product.name for product in page.products]


async def _shared(inventory: Inventory) -> tuple[BucketLeases, BucketLeases]:
    """Two instances' leases, once the ranges are shared out between them."""
    redis = inventory.store.redis
    first, second = leases(redis, LEASE, "first"), leases(redis, LEASE, "second")
    for held in (first, second, first, second):
        await held.renew()
    return first, second


async def test_the_indexer_lists_a_write_whose_index_step_never_ran(inventory: Inventory) -> None:
    await inventory.product("Blue kettle", quantity=3)
    # A process writes a product in its bucket (a), then dies before the index step (b).
    product_id = "crashed-1"
    fields = ProductFields("Red kettle", 900, "", "", (), "", 0, 0)
    record = new_record(product_id, fields, 5, 1, inventory.clock.now)
    keys = [
        store_keys.product(product_id),
        store_keys.analytics(product_id),
        store_keys.bucket_events(bucket_of(product_id)),
    ]
    args = [json.dumps(record), product_id, record["created_at"]]
    await inventory.store.scripts.create_product(keys=keys, args=args)
    assert await _listed(inventory, "kettle") == ["Blue kettle"]  # not listed yet
    cursor = await inventory.store.events.last_id()

    redis = inventory.store.redis
    indexer = Indexer(redis, inventory.store.index, leases(redis, 30))
    assert await indexer.run_once() > 0  # adopts every bucket: reads the whole streams
    fresh = build_inventory(redis, inventory.clock)  # no page cached
    assert await _listed(fresh, "kettle") == ["Blue kettle", "Red kettle"]
    page = await inventory.store.events.read_after(cursor, 100)
    assert [(e.type.value, e.product_id) for e in page.events] == [
        ("PRODUCT_CREATED", product_id)
    ]  # appended once: the events applied at the write are not appended again
    assert await indexer.run_once() == 0  # everything acknowledged
    assert (await inventory.store.events.read_after(cursor, 100)).events == page.events


async def test_the_indexer_sends_index_apply_only_the_events_no_write_here_applied(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = inventory.store.redis
    indexer = Indexer(redis, inventory.store.index, leases(redis, 30))
    await indexer.run_once()  # adopts every bucket
    sent: list[tuple[str, str]] = []  # (event id, product id): ids repeat across buckets
    apply = IndexWriter.apply

    async def spying(writer: IndexWriter, events: Sequence[Event]) -> int:
        sent.extend((event_id, fields["product_id"]) for event_id, fields in events)
        return await apply(writer, events)

    monkeypatch.setattr(IndexWriter, "apply", spying)
    mine = [await inventory.product(f"Mine {n}", quantity=5) for n in range(5)]
    for product in mine:  # holds that move no stock set: applied by the writer's flush
        await inventory.stock.reserve_stock(SERVICE, product.id, 1, f"r-{product.id}")
    other = build_inventory(redis, inventory.clock)  # another process writes too
    theirs = await other.product("Theirs", quantity=5)
    await Indexer(redis, other.store.index, leases(redis, 30)).before_pass()  # its rings
    assert await indexer.run_once() == 11  # every event read and acknowledged
    times = Counter(product_id for _, product_id in sent)
    # Each event this process wrote is sent to index_apply.lua once (by its write or its
    # flush), the other process's by its write and again by this indexer, which cannot tell.
    assert times == {**{p.id: 2 for p in mine}, theirs.id: 2}
    assert len(set(sent)) == 11
    assert await _listed(build_inventory(redis, inventory.clock), "theirs") == ["Theirs"]
    assert await indexer.run_once() == 0


async def test_two_indexers_share_the_buckets_and_one_takes_over_a_dead_ones(
    inventory: Inventory,
) -> None:
    first, second = await _shared(inventory)
    mine, theirs = set(await first.buckets()), set(await second.buckets())
    assert mine
    assert theirs
    assert not mine & theirs
    assert mine | theirs == set(range(BUCKETS))
    redis, writer = inventory.store.redis, inventory.store.index
    indexers = [Indexer(redis, writer, first), Indexer(redis, writer, second)]
    for indexer in indexers:
        await indexer.run_once()
    products = [await inventory.product(f"Item {n}", quantity=1) for n in range(40)]
    read = [await indexer.run_once() for indexer in indexers]  # rung by the writes
    assert min(read) > 0  # each read its own buckets' events
    assert sum(read) == 40
    assert {bucket_of(p.id) for p in products} & mine
    assert {bucket_of(p.id) for p in products} & theirs

    # The first instance dies (stops renewing): the second takes its buckets within one lease.
    died = time.monotonic()
    while len(await second.buckets()) < BUCKETS:
        assert time.monotonic() - died < LEASE + LEASE / 3 + 0.5, "not taken over in a lease"
        await second.renew()
    await inventory.product("Late item", quantity=1)
    assert await indexers[1].run_once() >= 1


async def test_a_watcher_resuming_from_its_cursor_misses_nothing_across_buckets(
    inventory: Inventory,
) -> None:
    products = [await inventory.product(f"Thing {n}", quantity=5) for n in range(30)]
    assert len({bucket_of(p.id) for p in products}) > 20  # spread over many buckets
    page = await inventory.store.events.read_after(EVERYTHING, 10)
    cursor = page.events[-1].id
    for product in products:
        await inventory.stock.reserve_stock(SERVICE, product.id, 1, f"r-{product.id}")
    redis = inventory.store.redis
    # Holds that move no product between stock sets reach the merged stream by the indexer.
    await Indexer(redis, inventory.store.index, leases(redis, 30)).run_once()
    resumed, seen = cursor, []
    while events := (await inventory.store.events.read_after(resumed, 7)).events:
        seen += events
        resumed = events[-1].id
    created = [e.product_id for e in seen if e.type.value == "PRODUCT_CREATED"]
    reserved = [e.product_id for e in seen if e.type.value == "STOCK_CHANGED"]
    assert created == [p.id for p in products[10:]]
    assert sorted(reserved) == sorted(p.id for p in products)  # each once, in bucket order


async def test_the_expiry_sweep_covers_the_buckets_each_instance_leased(
    inventory: Inventory,
) -> None:
    products = [await inventory.product(f"Held {n}", quantity=2) for n in range(30)]
    maker = build_inventory(inventory.store.redis, inventory.clock)  # an instance now gone
    for product in products:
        await maker.stock.reserve_stock(SERVICE, product.id, 2, f"h-{product.id}", MINUTE)
    inventory.clock.advance(MINUTE)
    first, second = await _shared(inventory)
    other = build_inventory(inventory.store.redis, inventory.clock)  # a second instance
    swept = [
        await inventory.stock.expire_due_reservations(await first.buckets()),
        await other.stock.expire_due_reservations(await second.buckets()),
    ]
    assert min(swept) > 0  # each swept its own buckets
    assert sum(swept) == 30
    for product in products:
        found = await inventory.store.products.get(product.id)
        assert found is not None
        assert (found.quantity, found.reserved) == (2, 0)


async def test_an_instance_sweeps_its_own_due_holds_whoever_leases_their_buckets(
    inventory: Inventory,
) -> None:
    product = await inventory.product("Soon", quantity=2)
    await inventory.stock.reserve_stock(SERVICE, product.id, 2, "soon", MINUTE)
    assert await inventory.stock.expire_due_reservations([]) == 0  # not due yet
    inventory.clock.advance(MINUTE)
    assert await inventory.stock.expire_due_reservations([]) == 1  # no bucket leased
    found = await inventory.store.products.get(product.id)
    assert found is not None
    assert (found.quantity, found.reserved) == (2, 0)

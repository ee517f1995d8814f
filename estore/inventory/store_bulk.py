"""A synthetic catalogue of any size, loaded straight through the stores in pipelines.

For demos and benchmarks (`estore seed-demo --products N`, `python -m estore.bench.catalogue`):
a fixed tree of 1,110 categories (10 departments, 10 aisles each, 10 shelves each), and products
on the shelves whose names, tags, prices and stock are drawn from a seeded generator, so the same
N always makes the same catalogue. Worker processes draw and pack each batch's commands
(store_products_bulk.pack: the same keys as CreateProduct's script writes, grouped per index
key), while this process sends them, so a million products load in a few minutes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from estore.inventory import store_products_bulk
from estore.inventory.models import Category, ProductFields
from estore.inventory.store import InventoryStore
from estore.inventory.store_products import NewRecord
from estore.inventory.store_products_bulk import PackedBatch

DEPARTMENTS = ["Kitchen", "Garden", "Office", "Outdoor", "Bath", "Toys", "Tools", "Audio",
               "Books", "Sports"]  # fmt: skip
ADJECTIVES = ["red", "blue", "green", "black", "white", "large", "small", "classic"]
MATERIALS = ["steel", "oak", "cotton", "glass", "ceramic", "bamboo", "wool", "copper",
             "linen", "stone", "leather", "clay"]  # fmt: skip
NOUNS = ["mug", "lamp", "chair", "basket", "bowl", "kettle", "shelf", "towel", "clock",
         "vase", "rug", "bench", "tray", "jar", "planter", "stool", "box", "brush", "bag",
         "crate"]  # fmt: skip
TAGS = ["sale", "new", "eco", "gift", "bestseller", "handmade", "imported", "local",
        "premium", "budget", "seasonal", "clearance", "limited", "bundle", "refurbished",
        "exclusive"]  # fmt: skip
FIRST_DEPARTMENT = "d0"  # present once the tree is loaded
BATCH = 10_000  # products per round trip: each index key gets one command per batch
IN_FLIGHT = 2  # batches sent at once
AHEAD = 4  # batches built ahead of the one being sent
WORKERS = max(1, min(2, (os.cpu_count() or 1)))  # processes that build batches
CREATED_BY = 1
START_MS = 1_700_000_000_000


@dataclass(frozen=True)
class LoadReport:
    """What a bulk load made and how long it took."""

    categories: int
    products: int
    seconds: float


def category_tree() -> list[Category]:
    """The fixed tree, parents before children: d<i>, d<i>-a<j>, d<i>-a<j>-s<k>."""
    tree = []
    for d, department in enumerate(DEPARTMENTS):
        tree.append(Category(f"d{d}", department, f"{department} (demo)", ""))
        for a in range(10):
            aisle = f"d{d}-a{a}"
            tree.append(Category(aisle, f"{department} aisle {a}", "", f"d{d}"))
            tree += [Category(f"{aisle}-s{s}", f"Shelf {s}", "", aisle) for s in range(10)]
    return tree


def product_id(n: int) -> str:
    """The n-th bulk product's id: 32 hex digits, like a CreateProduct id."""
    return f"b{n:031x}"


def draft(n: int) -> NewRecord:
    """The n-th bulk product: id, fields and initial stock (the same for the same n)."""
    rng = random.Random(n)  # noqa: S311 (demo data, reproducible by design; no secret)
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}".capitalize()
    shelf = rng.randrange(1_000)
    roll = rng.random()  # 10 % sold out, 10 % low on stock, the rest plenty
    quantity = 0 if roll < 0.1 else rng.randint(1, 5) if roll < 0.2 else rng.randint(10, 500)
    fields = ProductFields(
        name=name,
        price_minor=rng.randrange(100, 50_000, 5),
        category_id=f"d{shelf // 100}-a{shelf // 10 % 10}-s{shelf % 10}",
        description=f"{name}, from the EStore bulk demo catalogue.",
        tags=tuple(sorted(rng.sample(TAGS, 2))),
        image_url=f"https://images.example.com/bulk/{n}.jpg",
        min_stock_level=5,
        discount_percentage=rng.choice([0, 0, 0, 10, 25]),
    )
    return product_id(n), fields, quantity


def _batch(first: int, last: int) -> list[NewRecord]:
    return [draft(n) for n in range(first, last)]


def _packed_batch(first: int, last: int) -> PackedBatch:
    """Products first..last-1, packed (in a worker process); created a millisecond apart."""
    return store_products_bulk.pack(_batch(first, last), CREATED_BY, START_MS + first, 1)


async def _send_batch(store: InventoryStore, first: int, last: int, packed: PackedBatch) -> None:
    there = await store_products_bulk.present(
        store.redis, [product_id(n) for n in range(first, last)]
    )
    if there:  # a resumed load: build this batch again without them
        batch = _batch(first, last)
        packed = store_products_bulk.pack(batch, CREATED_BY, START_MS + first, 1, there)
    await store_products_bulk.write(store.redis, packed)


async def load(
    store: InventoryStore,
    products: int,
    *,
    start: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> LoadReport:
    """Load products start..products-1 (and the category tree first, once); an id already
    there is kept."""
    began = time.perf_counter()
    tree = []
    if not await store.categories.exists(FIRST_DEPARTMENT):
        tree = category_tree()
        await store.categories.create_many(tree)
    ranges = [(f, min(products, f + BATCH)) for f in range(start, products, BATCH)]
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")  # never fork a process with a running loop
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        built = [loop.run_in_executor(pool, _packed_batch, *r) for r in ranges[:AHEAD]]
        sending: list[asyncio.Task[None]] = []
        for i, (first, last) in enumerate(ranges):
            if i + AHEAD < len(ranges):  # keep the workers busy, and memory bounded
                built.append(loop.run_in_executor(pool, _packed_batch, *ranges[i + AHEAD]))
            packed = await built[i]
            # Two batches on two connections: Redis runs one while this process reads the other's.
            sending.append(asyncio.create_task(_send_batch(store, first, last, packed)))
            if len(sending) >= IN_FLIGHT:
                await sending.pop(0)
            if progress is not None:
                progress(last - start, products - start, time.perf_counter() - began)
        await asyncio.gather(*sending)
    return LoadReport(len(tree), max(0, products - start), time.perf_counter() - began)

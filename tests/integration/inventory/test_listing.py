"""ListProducts against a brute-force filter-and-sort, and a page cost independent of size."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estore.inventory.models import (
    Money,
    Product,
    ProductFields,
    ProductFilter,
)
from estore.inventory.rules_words import name_words
from tests.integration.inventory.conftest import ADMIN, Inventory, build_inventory

WORDS = ["red", "Blue", "shoe", "boot", "big"]
PRICES = [0, 100, 250, 999]
TAGS = ["x", "y", "z"]
CREATED = [1_000, 2_000, 3_000]  # few values: ties that only the id can break


@dataclass(frozen=True)
class Spec:
    """One generated product."""

    name: str
    price: int
    quantity: int
    min_stock_level: int
    category: int | None  # index into the tree below
    tags: tuple[str, ...]
    created_at: int


specs = st.builds(
    Spec,
    name=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
    price=st.sampled_from(PRICES),
    quantity=st.sampled_from([0, 1, 5]),
    min_stock_level=st.sampled_from([0, 1, 5]),
    category=st.one_of(st.none(), st.integers(0, 3)),
    tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple),
    created_at=st.sampled_from(CREATED),
)


def _often_none(values: list[int]) -> st.SearchStrategy[int | None]:
    """Mostly no filter, so that pages are often full."""
    return st.sampled_from([None, None, None, *values])


queries = st.fixed_dictionaries(
    {
        "category": _often_none([0, 1, 3]),
        "include_subcategories": st.booleans(),
        "tags": st.lists(st.sampled_from(TAGS), max_size=1),
        "min_price": _often_none(PRICES),
        "max_price": _often_none(PRICES),
        "in_stock": st.sampled_from([False, False, True]),
        "low_stock": st.sampled_from([False, False, True]),
        "words": st.lists(st.sampled_from(WORDS), max_size=1),
        "order": st.sampled_from(["created_at", "price", "name"]),
        "desc": st.booleans(),
        "page_size": st.integers(1, 4),
        # Rows one call may examine: tiny budgets end pages early, mid-way through the walk.
        "row_budget": st.sampled_from([1, 3, 2000]),
    }
)
# The tree: 0 and 3 are roots, 1 is under 0, 2 under 1.
PARENTS = [None, 0, 1, None]


async def _catalogue(inventory: Inventory, products: list[Spec]) -> tuple[list[str], list[Product]]:
    await inventory.store.redis.flushall()
    category_ids: list[str] = []
    for i, parent in enumerate(PARENTS):
        parent_id = "" if parent is None else category_ids[parent]
        category_ids.append((await inventory.category(f"c{i}", parent_id)).id)
    created = []
    for spec in products:
        inventory.clock.now = spec.created_at
        created.append(
            await inventory.product(
                spec.name,
                spec.price,
                quantity=spec.quantity,
                min_stock_level=spec.min_stock_level,
                category_id="" if spec.category is None else category_ids[spec.category],
                tags=spec.tags,
            )
        )
    return category_ids, created


def _subtree(root: int) -> set[int]:
    found = {root}
    while True:
        more = {i for i, parent in enumerate(PARENTS) if parent in found} - found
        if not more:
            return found
        found |= more


def _expected(products: list[Product], category_ids: list[str], q: dict[str, Any]) -> list[str]:
    """The brute-force answer: filter every product, then sort on (key, id)."""
    wanted_categories = None
    if q["category"] is not None:
        chosen = _subtree(q["category"]) if q["include_subcategories"] else {q["category"]}
        wanted_categories = {category_ids[i] for i in chosen}
    low, high = q["min_price"], q["max_price"]
    matching = [
        p
        for p in products
        if (wanted_categories is None or p.category_id in wanted_categories)
        and set(q["tags"]) <= set(p.tags)
        and (low is None or p.price_minor >= low)
        and (high is None or p.price_minor <= high)
        and (not q["in_stock"] or p.quantity > 0)
        and (not q["low_stock"] or p.quantity <= p.min_stock_level)
        and {w.lower() for w in q["words"]} <= set(name_words(p.name))
    ]
    sort_key = {
        "created_at": lambda p: (p.created_at, p.id),
        "price": lambda p: (p.price_minor, p.id),
        "name": lambda p: (p.name.lower(), p.id),
    }[q["order"]]
    return [p.id for p in sorted(matching, key=sort_key, reverse=q["desc"])]


async def _all_pages(inventory: Inventory, f: ProductFilter, order_by: str, size: int) -> list[str]:
    ids: list[str] = []
    token = ""
    for _ in range(200):  # a cursor that does not advance must fail, not hang
        page = await inventory.products.list_products(f, order_by, size, token)
        ids += [p.id for p in page.products]
        assert len(page.products) <= size  # fewer (even none) when the row budget ran out
        if not page.next_page_token:
            return ids
        token = page.next_page_token
    raise AssertionError(f"paging never ended: {ids}")


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(products=st.lists(specs, max_size=15), q=queries)
async def test_list_products_matches_brute_force(inventory: Inventory, products, q) -> None:
    if (
        q["min_price"] is not None
        and q["max_price"] is not None
        and q["max_price"] < q["min_price"]
    ):
        q["min_price"], q["max_price"] = q["max_price"], q["min_price"]
    category_ids, created = await _catalogue(inventory, products)
    f = ProductFilter(
        category_id="" if q["category"] is None else category_ids[q["category"]],
        include_subcategories=q["include_subcategories"],
        tags=tuple(q["tags"]),
        min_price=None if q["min_price"] is None else Money("USD", q["min_price"]),
        max_price=None if q["max_price"] is None else Money("USD", q["max_price"]),
        in_stock=q["in_stock"],
        low_stock=q["low_stock"],
        query=" ".join(q["words"]),
    )
    order_by = q["order"] + (" desc" if q["desc"] else "")
    budgeted = build_inventory(inventory.store.redis, inventory.clock, row_budget=q["row_budget"])
    got = await _all_pages(budgeted, f, order_by, q["page_size"])
    assert got == _expected(created, category_ids, q)


@pytest.mark.parametrize(
    "f", [ProductFilter(), ProductFilter(query="same")], ids=["index", "filtered"]
)
@pytest.mark.parametrize("order_by", ["price", "price desc"])
async def test_paging_continues_after_the_cursor_product_is_deleted(
    inventory: Inventory, f: ProductFilter, order_by: str
) -> None:
    made = [await inventory.product("Same", price) for price in (100, 100, 100, 200, 100)]
    ordered = sorted(made, key=lambda p: (p.price_minor, p.id), reverse=order_by.endswith("desc"))
    first = await inventory.products.list_products(f, order_by, 2, "")
    assert [p.id for p in first.products] == [p.id for p in ordered[:2]]
    await inventory.products.delete_product(ADMIN, ordered[1].id)
    rest = await inventory.products.list_products(f, order_by, 10, first.next_page_token)
    assert [p.id for p in rest.products] == [p.id for p in ordered[2:]]


@pytest.mark.parametrize("query", ["", "same"], ids=["index", "filtered"])
@pytest.mark.parametrize("order_by", ["created_at", "price", "name"])
@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
async def test_pages_of_ties_in_both_directions(
    inventory: Inventory, query: str, order_by: str, desc: bool
) -> None:
    made = []
    for i in range(7):  # three created_at values, two prices, two names: many ties
        inventory.clock.now = 1_000 + (i % 3)
        made.append(await inventory.product(f"Same {'a' if i % 2 else 'B'}", 100 * (i % 2)))
    key = {
        "created_at": lambda p: (p.created_at, p.id),
        "price": lambda p: (p.price_minor, p.id),
        "name": lambda p: (p.name.lower(), p.id),
    }[order_by]
    expected = [p.id for p in sorted(made, key=key, reverse=desc)]
    f = ProductFilter(query=query)
    assert await _all_pages(inventory, f, order_by + (" desc" if desc else ""), 2) == expected


async def _commands_used(inventory: Inventory, call) -> dict[str, int]:
    """Redis commands (by name, from INFO commandstats) that `call` issues."""
    redis = inventory.store.redis

    async def snapshot() -> dict[str, int]:
        stats = await redis.info("commandstats")
        return {name: int(value["calls"]) for name, value in stats.items()}

    before = await snapshot()
    await call()
    after = await snapshot()
    used = {name: after[name] - before.get(name, 0) for name in after}
    return {name: count for name, count in used.items() if count and name != "cmdstat_info"}


def _bulk(start: int, count: int, categories: list[str]) -> list[tuple[str, ProductFields, int]]:
    return [
        (
            f"p{i:06d}",
            ProductFields(
                name=f"Item {i} {'red' if i % 2 else 'blue'}",
                price_minor=(i % 50) * 100,
                category_id=categories[i % len(categories)],
                description="",
                tags=("even",) if i % 2 == 0 else ("odd",),
                image_url="",
                min_stock_level=1,
                discount_percentage=0,
            ),
            i % 3,
        )
        for i in range(start, start + count)
    ]


async def test_a_page_needs_as_many_commands_at_100_and_10000(inventory: Inventory) -> None:
    root = await inventory.category("Root")
    child = await inventory.category("Child", root.id)
    categories = [root.id, child.id]
    queries = [
        (ProductFilter(), "created_at"),
        (ProductFilter(), "name desc"),
        (ProductFilter(tags=("even",), in_stock=True, max_price=Money("USD", 4000)), "price desc"),
        (ProductFilter(category_id=root.id, include_subcategories=True, query="red"), "name"),
        (ProductFilter(low_stock=True, min_price=Money("USD", 100)), "created_at desc"),
    ]

    async def second_pages() -> list[dict[str, int]]:
        costs = []
        for f, order_by in queries:
            first = await inventory.products.list_products(f, order_by, 5, "")
            assert first.next_page_token

            async def page(f=f, order_by=order_by, token=first.next_page_token) -> None:
                got = await inventory.products.list_products(f, order_by, 5, token)
                assert len(got.products) == 5

            costs.append(await _commands_used(inventory, page))
        return costs

    await inventory.store.products.create_many(_bulk(0, 100, categories), 1, 1_000)
    small = await second_pages()
    started = time.perf_counter()
    await inventory.store.products.create_many(_bulk(100, 9_900, categories), 1, 2_000)
    loaded = time.perf_counter() - started
    large = await second_pages()
    print(f"\nloaded 9,900 in {loaded:.1f}s; commands per page at 100 / 10,000 products:")
    for (_f, order_by), at_100, at_10000 in zip(queries, small, large, strict=True):
        print(f"  {order_by:16} {sum(at_100.values()):3} / {sum(at_10000.values()):3}  {at_100}")
    for at_100, at_10000 in zip(small, large, strict=True):
        # The plan may differ with the sizes (a small subtree is read whole), never the growth.
        assert sum(at_10000.values()) <= sum(at_100.values()) + 4


async def test_a_page_token_from_one_instance_works_on_another(
    inventory: Inventory, redis, clock
) -> None:
    for i in range(3):
        await inventory.product(f"Item {i}")
    first = await inventory.products.list_products(ProductFilter(), "name", 1, "")
    other_instance = build_inventory(redis, clock)  # its own secret cache, same Redis
    rest = await other_instance.products.list_products(
        ProductFilter(), "name", 5, first.next_page_token
    )
    assert [p.name for p in rest.products] == ["Item 1", "Item 2"]

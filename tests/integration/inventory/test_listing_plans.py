"""ListProducts plans: dense, sparse and empty filters against brute force, and bounded pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from estore.inventory.models import Category, Money, Product, ProductFields, ProductFilter
from estore.inventory.rules_listing import catalog_query, parse_order_by
from estore.inventory.rules_words import name_words
from estore.inventory.store_catalog import CatalogQuery, Cursor
from tests.integration.inventory.conftest import Inventory, build_inventory

ORDERS = [f"{o}{d}" for o in ("created_at", "price", "name") for d in ("", " desc")]
COUNT = 600
BUDGET = 40


def _fields(i: int, count: int) -> ProductFields:
    tags = ["dense"] if i % 10 < 7 else []  # 70 %
    if i % 100 == 42:
        tags.append("sparse")  # 6 products
    tags.append("low-half" if i < count // 2 else "high-half")
    if i % 500 == 7:
        tags.append("high-half" if i < count // 2 else "low-half")  # in both: rare
    return ProductFields(
        name=f"{['Red', 'blue', 'Green'][i % 3]} item {i % 50}",
        price_minor=(i * 37) % 1000,
        category_id="",
        description="",
        tags=tuple(tags),
        image_url="",
        min_stock_level=1,
        discount_percentage=0,
    )


async def _catalogue(inventory: Inventory, count: int) -> list[Product]:
    """`count` products in batches of different created_at, so both ties and order occur."""
    ids = [f"p{i:05d}" for i in range(count)]
    for start in range(0, count, 100):
        batch = [(ids[i], _fields(i, count), i % 4) for i in range(start, min(count, start + 100))]
        await inventory.store.products.create_many(batch, 1, 1_000 + start // 200)
    return await inventory.store.products.get_many(ids)


def _expected(products: list[Product], f: ProductFilter, order_by: str) -> list[str]:
    words = set(name_words(f.query))
    low = f.min_price.minor_units if f.min_price else 0
    high = f.max_price.minor_units if f.max_price else 2**62
    matching = [
        p
        for p in products
        if set(f.tags) <= set(p.tags)
        and words <= set(name_words(p.name))
        and low <= p.price_minor <= high
        and (not f.in_stock or p.quantity > 0)
        and (not f.low_stock or p.quantity <= p.min_stock_level)
    ]
    field = order_by.split()[0]
    key: Callable[[Product], tuple[object, str]] = {
        "created_at": lambda p: (p.created_at, p.id),
        "price": lambda p: (p.price_minor, p.id),
        "name": lambda p: (p.name.lower(), p.id),
    }[field]
    return [p.id for p in sorted(matching, key=key, reverse=order_by.endswith("desc"))]


async def _all_pages(
    inventory: Inventory, f: ProductFilter, order_by: str, size: int
) -> tuple[list[str], list[int]]:
    """Every id over all pages, and each page's length."""
    ids: list[str] = []
    lengths: list[int] = []
    token = ""
    for _ in range(1_000):
        page = await inventory.products.list_products(f, order_by, size, token)
        ids += [p.id for p in page.products]
        lengths.append(len(page.products))
        if not page.next_page_token:
            return ids, lengths
        token = page.next_page_token
    raise AssertionError("paging never ended")


FILTERS = {
    "dense": ProductFilter(tags=("dense",)),
    "sparse": ProductFilter(tags=("sparse",)),
    "empty": ProductFilter(tags=("nobody",)),
    "dense-and-price": ProductFilter(
        tags=("dense",), min_price=Money("USD", 200), max_price=Money("USD", 450)
    ),
    "sparse-in-stock": ProductFilter(tags=("sparse",), in_stock=True),
    "price": ProductFilter(min_price=Money("USD", 990)),
    "word-low-stock": ProductFilter(query="green", low_stock=True),
    "disjoint": ProductFilter(tags=("low-half", "high-half")),
}


@pytest.mark.parametrize("name", FILTERS)
async def test_every_plan_matches_brute_force_in_every_order(
    inventory: Inventory, name: str
) -> None:
    products = await _catalogue(inventory, COUNT)
    budgeted = build_inventory(inventory.store.redis, inventory.clock, row_budget=BUDGET)
    f = FILTERS[name]
    for order_by in ORDERS:
        got, _ = await _all_pages(budgeted, f, order_by, 7)
        assert got == _expected(products, f, order_by), order_by


async def _plan(inventory: Inventory, f: ProductFilter, order_by: str) -> str:
    query = catalog_query(f, parse_order_by(order_by), "USD")
    return (await inventory.store.catalog.page(query, None, 10)).plan


async def test_the_plan_follows_the_filters_sizes(inventory: Inventory) -> None:
    await _catalogue(inventory, COUNT)
    assert await _plan(inventory, ProductFilter(in_stock=True), "price") == "walk order"
    assert await _plan(inventory, FILTERS["dense"], "price") == "walk filter"
    assert await _plan(inventory, FILTERS["sparse"], "price") == "walk filter"
    assert await _plan(inventory, FILTERS["sparse"], "created_at desc") == "walk filter"
    assert await _plan(inventory, FILTERS["empty"], "name") == "empty"
    assert await _plan(inventory, FILTERS["price"], "created_at") == "enumerate"
    assert await _plan(inventory, FILTERS["price"], "price desc") == "walk order"


async def test_a_sparse_filter_gives_short_pages_that_continue_and_end(
    inventory: Inventory,
) -> None:
    products = await _catalogue(inventory, 3_000)
    budget = 200
    budgeted = build_inventory(inventory.store.redis, inventory.clock, row_budget=budget)
    # Each half is far too large to read whole; together they match 6 products: the walk runs
    # out of rows page after page, and every call still ends within its budget.
    f = ProductFilter(tags=("low-half", "high-half"))
    got, lengths = await _all_pages(budgeted, f, "created_at", 5)
    assert got == _expected(products, f, "created_at")
    assert len(got) == 6
    assert len(lengths) >= 1_500 // budget  # the smaller half, walked
    assert 0 in lengths[:-1]  # an empty page that still has a next page

    query = CatalogQuery(tags=("high-half", "low-half"))
    cursor: Cursor | None = None
    calls = 0
    while True:
        page = await budgeted.store.catalog.page(query, cursor, 5)
        calls += 1
        assert page.examined <= budget
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert calls == len(lengths)


async def _plans(inventory: Inventory, f: ProductFilter, order_by: str) -> set[str]:
    """The plans of every page of a query (pages of 7)."""
    query = catalog_query(f, parse_order_by(order_by), "USD")
    plans, cursor = set(), None
    while True:
        page = await inventory.store.catalog.page(query, cursor, 7)
        plans.add(page.plan)
        if (cursor := page.next_cursor) is None:
            return plans


async def test_merged_subtrees_and_price_bands_match_brute_force(inventory: Inventory) -> None:
    # A root with 30 leaves holding 1 product in 20 (merged), beside a category holding the
    # rest; prices over many bands.
    tree = [Category("root", "Root", "", ""), Category("else", "Elsewhere", "", "")]
    tree += [Category(f"leaf{i}", f"Leaf {i}", "", "root") for i in range(30)]
    await inventory.store.categories.create_many(tree)
    drafts = []
    for i in range(COUNT):
        category = f"leaf{i % 30}" if i % 20 == 0 else "else"
        fields = replace(_fields(i, COUNT), category_id=category, price_minor=(i * 7919) % 70_000)
        drafts.append((f"p{i:05d}", fields, i % 4))
    for start in range(0, COUNT, 100):
        await inventory.store.products.create_many(drafts[start : start + 100], 1, 9_000 + start)
    products = await inventory.store.products.get_many([d[0] for d in drafts])
    budgeted = build_inventory(inventory.store.redis, inventory.clock, row_budget=BUDGET)
    subtree = ProductFilter(category_id="root", include_subcategories=True)
    cases = {
        "subtree": subtree,
        "subtree-and-tag": replace(subtree, tags=("dense",)),
        "subtree-and-price": replace(subtree, min_price=Money("USD", 3_000)),
        "price-bands": ProductFilter(min_price=Money("USD", 9_000), max_price=Money("USD", 12_000)),
        "price-bands-in-stock": ProductFilter(min_price=Money("USD", 9_000), in_stock=True),
    }
    in_root = {p.id for p in products if p.category_id.startswith("leaf")}
    for name, f in cases.items():
        for order_by in ORDERS:
            got, _ = await _all_pages(budgeted, f, order_by, 7)
            expected = _expected(
                products, replace(f, category_id="", include_subcategories=False), order_by
            )
            if f.category_id:
                expected = [i for i in expected if i in in_root]
            assert got == expected, (name, order_by)
    assert "merge subtree" in await _plans(inventory, subtree, "created_at desc")
    assert "merge subtree" in await _plans(inventory, subtree, "name")
    assert "merge bands" in await _plans(inventory, cases["price-bands"], "created_at")

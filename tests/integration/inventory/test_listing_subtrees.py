"""ListProducts over category subtrees: thousands of categories, moves, and data from before."""

from __future__ import annotations

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.models import (
    Category,
    Money,
    NewProduct,
    Product,
    ProductFields,
    ProductFilter,
)
from tests.integration.inventory.conftest import ADMIN, Inventory, build_inventory


def _fields(name: str, category_id: str) -> ProductFields:
    return ProductFields(
        name=name,
        price_minor=100,
        category_id=category_id,
        description="",
        tags=(),
        image_url="",
        min_stock_level=0,
        discount_percentage=0,
    )


async def _names(inventory: Inventory, category_id: str, order_by: str = "name") -> list[str]:
    f = ProductFilter(category_id=category_id, include_subcategories=True)
    names, token = [], ""
    while True:
        page = await inventory.products.list_products(f, order_by, 50, token)
        names += [p.name for p in page.products]
        if not page.next_page_token:
            return names
        token = page.next_page_token


async def _counts(inventory: Inventory) -> dict[str, int]:
    found = await inventory.store.redis.hgetall(store_keys.SUBTREE_PRODUCTS)
    return {text(k): int(v) for k, v in found.items()}


async def test_a_subtree_of_ten_thousand_categories_lists_exactly(inventory: Inventory) -> None:
    # root -> 100 branches -> 99 leaves each: 10,000 categories under the root.
    tree = [Category(id="root", name="Root", description="", parent_id="")]
    tree += [Category(f"b{b}", f"Branch {b}", "", "root") for b in range(100)]
    tree += [Category(f"l{b}-{n}", f"Leaf {n}", "", f"b{b}") for b in range(100) for n in range(99)]
    tree.append(Category(id="other", name="Other", description="", parent_id=""))
    await inventory.store.categories.create_many(tree)
    inside = [(f"p{i:04d}", _fields(f"In {i:04d}", f"l{i % 100}-{i % 99}"), 1) for i in range(300)]
    outside = [(f"q{i:04d}", _fields(f"Out {i:04d}", "other"), 1) for i in range(20)]
    await inventory.store.products.create_many([*inside, *outside], 1, 1_000)

    expected = [f"In {i:04d}" for i in range(300)]
    assert await _names(inventory, "root") == expected  # tested row by row (too many to read)
    assert await _names(inventory, "root", "created_at desc") == sorted(expected, reverse=True)
    # A branch of 100 categories is read whole.
    assert await _names(inventory, "b7") == [f"In {i:04d}" for i in range(300) if i % 100 == 7]
    assert await _names(inventory, "l7-7") == ["In 0007"]  # a leaf: its own set
    assert (await _counts(inventory))["root"] == 300

    # Moving a branch with its 99 leaves moves its products' listings, at O(depth) cost.
    moved = Category(id="b7", name="Branch 7", description="", parent_id="other")
    await inventory.categories.update_category(ADMIN, moved, frozenset({"parent_id"}))
    assert await _names(inventory, "root") == [e for e in expected if int(e[3:]) % 100 != 7]
    assert await _names(inventory, "other") == sorted(
        [f"In {i:04d}" for i in range(300) if i % 100 == 7] + [f"Out {i:04d}" for i in range(20)]
    )
    counts = await _counts(inventory)
    assert (counts["root"], counts["other"], counts["b7"]) == (297, 23, 3)


async def _tree(inventory: Inventory) -> tuple[Category, Category, Category, Category]:
    a = await inventory.category("A")
    b = await inventory.category("B", a.id)
    c = await inventory.category("C", b.id)
    x = await inventory.category("X")
    return a, b, c, x


async def test_moves_and_product_changes_keep_subtrees_exact(inventory: Inventory) -> None:
    a, b, c, x = await _tree(inventory)
    deep = await inventory.product("Deep", category_id=c.id)
    await inventory.product("Top", category_id=a.id)
    assert await _names(inventory, a.id) == ["Deep", "Top"]
    assert await _names(inventory, b.id) == ["Deep"]

    await inventory.categories.update_category(
        ADMIN, Category(b.id, "B", "", x.id), frozenset({"parent_id"})
    )
    assert await _names(inventory, a.id) == ["Top"]
    assert await _names(inventory, x.id) == ["Deep"]

    draft = NewProduct(name="Deep", price=Money("USD", 1000), category_id=a.id)
    await inventory.products.update_product(ADMIN, deep.id, draft, frozenset({"category_id"}))
    assert await _names(inventory, x.id) == []
    assert await _names(inventory, a.id) == ["Deep", "Top"]
    assert await _counts(inventory) == {a.id: 2}

    await inventory.products.delete_product(ADMIN, deep.id)
    assert await _counts(inventory) == {a.id: 1}


async def _as_layout_1(redis: RedisClient) -> None:
    """Turn the data into what the version before issue 11 wrote."""
    # Before issue 14: every product under the one `{inv}` slot, with no index records.
    for raw in await redis.zrange(store_keys.BY_CREATED, 0, -1):
        product_id = text(raw)
        record = await redis.hgetall(store_keys.product(product_id))
        del record[b"ix"]
        await redis.hset(f"{store_keys.PREFIX}:product:{product_id}", mapping=record)  # type: ignore[arg-type]
        await redis.delete(store_keys.product(product_id))
    await redis.delete(
        store_keys.CATEGORY_OF,
        store_keys.CATEGORY_PARENTS,
        store_keys.SUBTREE_PRODUCTS,
        store_keys.INDEX_VERSION,
        store_keys.INDEXED,
    )
    async for raw in redis.scan_iter(f"{store_keys.PREFIX}:ix:nl:*"):
        key = text(raw)
        members = await redis.zrange(key, 0, -1)
        await redis.sadd(key.replace(":ix:nl:", ":ix:nm:"), *members)
        await redis.delete(key)
    # Layout 3 and older: category, tag and word sets were plain sets of ids; no price bands.
    async for raw in redis.scan_iter(f"{store_keys.PREFIX}:ix:cr:*"):
        key = text(raw)
        if ":price_band:" not in key:
            await redis.sadd(key.replace(":ix:cr:", ":ix:id:"), *await redis.zrange(key, 0, -1))
        await redis.delete(key)
    async for raw in redis.scan_iter(f"{store_keys.PREFIX}:ix:pr:*"):
        await redis.delete(raw)


async def test_data_from_before_issue_11_is_reindexed_once(inventory: Inventory) -> None:
    a, b, c, x = await _tree(inventory)
    made: list[Product] = []
    for i, category in enumerate([a, b, c, c, x]):
        made.append(await inventory.product(f"Item {i}", category_id=category.id, quantity=i))
    counts = await _counts(inventory)
    redis = inventory.store.redis
    await _as_layout_1(redis)
    assert await redis.exists(store_keys.in_stock("nm"))

    restarted = build_inventory(redis, inventory.clock)
    assert await _names(restarted, a.id) == ["Item 0", "Item 1", "Item 2", "Item 3"]
    assert await _names(restarted, b.id) == ["Item 1", "Item 2", "Item 3"]
    in_stock = ProductFilter(in_stock=True, query="item")
    page = await restarted.products.list_products(in_stock, "name desc", 10, "")
    assert [p.name for p in page.products] == ["Item 4", "Item 3", "Item 2", "Item 1"]
    assert await _counts(restarted) == counts
    assert await redis.get(store_keys.INDEX_VERSION) == b"5"
    assert not await redis.exists(f"{store_keys.PREFIX}:product:{made[0].id}")  # moved
    assert not await redis.exists(store_keys.in_stock("nm"))  # layout 1's sets are gone
    assert not await redis.exists(store_keys.in_category(store_keys.ID, a.id))
    priced = await restarted.products.list_products(ProductFilter(query="item"), "price", 10, "")
    assert len(priced.products) == 5  # the ordered sets are back
    # Idempotent: running it again (another instance, or a resumed run) changes nothing.
    assert await restarted.store.layout.reindex() == (4, 0)  # every product already filed
    assert await _counts(restarted) == counts
    page = await restarted.products.list_products(in_stock, "name", 10, "")
    assert [p.name for p in page.products] == ["Item 1", "Item 2", "Item 3", "Item 4"]

"""Product writes keep every index exact; GetProduct is one read, its views saved in batches."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import product_fields, sort_member
from estore.inventory.errors import ConcurrentModification, ProductNotFound
from estore.inventory.models import Money, NewProduct
from tests.integration.inventory.conftest import ADMIN, Inventory


async def _index_entries(redis: RedisClient, product_id: str) -> set[str]:
    """Every index key that holds the product, in either flavour (a test may scan)."""
    found = set()
    async for raw in redis.scan_iter(match=f"{store_keys.PREFIX}:ix:*"):
        key = text(raw)
        kind = await redis.type(key)
        if kind == b"hash":
            members: Any = await redis.hkeys(key)
        elif kind == b"zset":
            members = await redis.zrange(key, 0, -1)
        elif kind == b"set":
            members = await redis.smembers(key)
        else:  # the layout version
            continue
        if any(text(m).rpartition("\0")[2] == product_id for m in members):
            found.add(key.removeprefix(f"{store_keys.PREFIX}:ix:"))
    return found


def both(*names: str) -> set[str]:
    """The stock index names in both flavours."""
    return {f"{flavour}:{name}" for flavour in ("id", "nl") for name in names}


def ordered(*names: str) -> set[str]:
    """The filter index names in every order's flavour."""
    return {f"{flavour}:{name}" for flavour in ("cr", "pr", "nl") for name in names}


async def test_create_update_delete_keep_indexes_exact(inventory: Inventory) -> None:
    shoes = await inventory.category("Shoes")
    hats = await inventory.category("Hats")
    product = await inventory.product(
        "Red Boot", 500, quantity=2, category_id=shoes.id, tags=("winter",), min_stock_level=1
    )
    redis = inventory.store.redis
    assert await _index_entries(redis, product.id) == {
        "id:created", "id:price", "nm:name", "nm:price", "id:category_of", "cr:price_band:9",
        *ordered(f"category:{shoes.id}", "tag:winter", "word:red", "word:boot"),
        *both("in_stock"),
    }  # fmt: skip
    assert await redis.hgetall(store_keys.SUBTREE_PRODUCTS) == {shoes.id.encode(): b"1"}
    change = NewProduct(
        name="Green Hat", price=Money("USD", 900), category_id=hats.id, tags=("summer",),
        min_stock_level=5,
    )  # fmt: skip
    paths = frozenset({"name", "price", "category_id", "tags", "min_stock_level"})
    await inventory.products.update_product(ADMIN, product.id, change, paths)
    assert await _index_entries(redis, product.id) == {
        "id:created", "id:price", "nm:name", "nm:price", "id:category_of", "cr:price_band:10",
        *ordered(f"category:{hats.id}", "tag:summer", "word:green", "word:hat"),
        *both("in_stock", "low_stock"),
    }  # fmt: skip
    assert await redis.hgetall(store_keys.SUBTREE_PRODUCTS) == {hats.id.encode(): b"1"}
    assert await redis.zscore(store_keys.BY_PRICE, product.id) == 900
    assert await redis.zscore(store_keys.with_tag(store_keys.PRICED, "summer"), product.id) == 900
    created = await redis.zscore(store_keys.BY_CREATED, product.id)
    assert await redis.zscore(store_keys.with_tag(store_keys.CREATED, "summer"), product.id) == (
        created
    )
    member = sort_member("Green Hat", product.id)
    assert await redis.zscore(store_keys.BY_PRICE_NAMED, member) == 900
    assert await redis.zscore(store_keys.low_stock(store_keys.NAME), member) == 0
    await inventory.stock.adjust_stock(ADMIN, product.id, -2, "sold out")
    assert "id:in_stock" not in await _index_entries(redis, product.id)
    await inventory.products.delete_product(ADMIN, product.id)
    assert await _index_entries(redis, product.id) == set()
    assert await redis.hgetall(store_keys.SUBTREE_PRODUCTS) == {}
    assert not await redis.exists(store_keys.product(product.id), store_keys.analytics(product.id))


@pytest.mark.single_redis  # counts one server's commandstats
async def test_get_product_is_one_read_and_its_view_is_saved_by_a_flush(
    inventory: Inventory,
) -> None:
    product = await inventory.product()
    await inventory.store.load_scripts()  # as create_service does at start
    redis = inventory.store.redis
    before = await redis.info("commandstats")
    inventory.clock.advance(5)
    assert await inventory.products.get_product(product.id) == product
    after = await redis.info("commandstats")
    calls = {name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"] for name in after}
    assert {name: n for name, n in calls.items() if n and name != "cmdstat_info"} == {
        "cmdstat_hmget": 1,
    }
    counters = store_keys.analytics(product.id)
    assert await redis.hmget(counters, "views", "last_viewed") == [b"0", None]  # not saved yet
    await inventory.products.views.flush()
    now = str(inventory.clock.now).encode()
    assert await redis.hmget(counters, "views", "last_viewed") == [b"1", now]
    analytics = await inventory.products.get_analytics(ADMIN, product.id)
    assert (analytics.views, analytics.last_viewed) == (1, inventory.clock.now)


async def test_a_batch_of_views_sent_twice_is_added_once(inventory: Inventory) -> None:
    product = await inventory.product()
    views = {product.id: (3, inventory.clock.now)}
    await inventory.store.products.add_views("batch-1", views)
    await inventory.store.products.add_views("batch-1", views)  # a retry after a timeout
    await inventory.store.products.add_views("batch-2", views)
    assert (await inventory.products.get_analytics(ADMIN, product.id)).views == 6


async def test_views_of_a_product_deleted_before_the_flush_are_dropped(
    inventory: Inventory,
) -> None:
    product = await inventory.product()
    await inventory.products.get_product(product.id)
    await inventory.products.delete_product(ADMIN, product.id)
    await inventory.products.views.flush()
    assert not await inventory.store.redis.exists(store_keys.analytics(product.id))


async def test_reading_a_missing_product_leaves_no_analytics(inventory: Inventory) -> None:
    redis = inventory.store.redis
    with pytest.raises(ProductNotFound):
        await inventory.products.get_product("ghost")
    assert not await redis.exists(store_keys.analytics("ghost"))


async def test_views_are_counted_after_redis_forgets_its_scripts(inventory: Inventory) -> None:
    product = await inventory.product()
    await inventory.products.get_product(product.id)
    await inventory.store.redis.script_flush()
    await inventory.products.get_product(product.id)
    await inventory.products.get_product(product.id)
    assert (await inventory.products.get_analytics(ADMIN, product.id)).views == 3


async def test_an_update_that_raced_another_is_retried_on_fresh_data(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await inventory.product("Lamp", 100, description="old")
    store = inventory.store.products
    write = store._update_once
    raced: list[bool] = []

    async def racing(*args: Any) -> Any:
        if not raced:  # another admin's change lands between our read and our write
            raced.append(True)
            describe = lambda p: replace(product_fields(p), description="new")  # noqa: E731
            await store.update(product.id, describe, 1)
        return await write(*args)

    monkeypatch.setattr(store, "_update_once", racing)
    rename = lambda p: replace(product_fields(p), name="Desk lamp")  # noqa: E731
    updated = await store.update(product.id, rename, 2)
    assert (updated.name, updated.description) == ("Desk lamp", "new")
    entries = await _index_entries(inventory.store.redis, product.id)
    assert ordered("word:desk", "word:lamp") <= entries


async def test_an_update_that_keeps_losing_races_is_aborted(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await inventory.product("Lamp", 100)
    store = inventory.store.products
    write = store._update_once

    async def always_behind(*args: Any) -> Any:
        await inventory.store.redis.hincrby(store_keys.product(product.id), "rev", 1)
        return await write(*args)

    monkeypatch.setattr(store, "_update_once", always_behind)
    with pytest.raises(ConcurrentModification):
        await store.update(product.id, product_fields, 2)

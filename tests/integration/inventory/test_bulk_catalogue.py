"""`estore seed-demo --products N`: a bulk catalogue straight into Redis, exact and resumable."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from estore.bench.catalogue import SHAPES, measure, table, write
from estore.cli import main
from estore.common.config import Settings
from estore.common.redis import RedisClient, text
from estore.demo import seed_bulk
from estore.inventory import store_keys
from estore.inventory.errors import CategoryNotFound
from estore.inventory.models import ProductFilter
from estore.inventory.store_bulk import category_tree, draft, product_id
from tests.integration.inventory.conftest import Inventory


async def test_a_bulk_load_is_listed_like_created_products(
    inventory: Inventory, redis_url: str
) -> None:
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url})
    report = await seed_bulk(settings, 1_500)
    assert (report.categories, report.products) == (1_110, 1_500)
    redis = inventory.store.redis
    assert await redis.zcard(store_keys.BY_CREATED) == 1_500
    _, fields, quantity = draft(7)
    product = await inventory.store.products.get(product_id(7))
    assert product is not None
    assert (product.name, product.category_id, product.quantity) == (
        fields.name,
        fields.category_id,
        quantity,
    )

    department = category_tree()[0]
    in_department = [n for n in range(1_500) if draft(n)[1].category_id.startswith("d0-")]
    f = ProductFilter(category_id=department.id, include_subcategories=True)
    listed, token = [], ""
    while True:
        page = await inventory.products.list_products(f, "created_at", 500, token)
        listed += [p.id for p in page.products]
        if not (token := page.next_page_token):
            break
    assert listed == [product_id(n) for n in in_department]
    low = await inventory.products.list_products(ProductFilter(low_stock=True), "", 500, "")
    assert low.products  # some items are low on stock

    await inventory.store.products.delete(product_id(1_234), 0)  # as if a run stopped there
    again = await seed_bulk(settings, 2_500)  # resumes a few batches before the gap
    assert again.categories == 0
    assert await inventory.store.products.get(product_id(1_234)) is not None
    assert await redis.zcard(store_keys.BY_CREATED) == 2_500  # the gap filled, nothing twice


def test_seed_demo_refuses_a_product_count_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo", "--products", "0"]) == 2
    assert "--products must be at least 1" in capsys.readouterr().err


@pytest.mark.single_redis  # the catalogue bench reads one server's SLOWLOG and commandstats
async def test_the_catalogue_bench_measures_every_shape_at_every_size(
    redis_url: str, tmp_path: Path
) -> None:
    rows = await measure(redis_url, [300, 600], pages=2, quiet=True)
    assert [(r["query shape"], r["size"]) for r in rows] == [
        (shape, size) for size in (300, 600) for shape in SHAPES
    ]
    for row in rows:
        assert row["redis_ms_per_page"] >= row["script_ms_per_page"] > 0
        assert row["wall_ms_per_page"] > 0
        assert 0 < row["rows_examined_per_page"] <= 2_000
        assert row["used_memory_per_product"] > 0
        assert row["load_seconds"] > 0
    text_table = table(rows)
    assert "category with subtree" in text_table
    assert text_table.splitlines()[2].endswith("x")  # each shape's ratio, 600 to 300

    json_file, text_file, chart = write(rows, tmp_path)
    assert json.loads(json_file.read_text()) == rows
    assert text_file.read_text() == text_table + "\n"
    assert chart.read_bytes().startswith(b"\x89PNG")


async def _contents(redis: RedisClient) -> dict[str, object]:
    """Every key's value, comparable across two loads (stream entries without their ids, the
    index records without the id of the event applied; the buckets' streams, which the bulk
    load does not write, left out)."""
    found: dict[str, object] = {}
    for raw in await redis.keys("*"):
        key, kind = text(raw), text(await redis.type(raw))
        if key == store_keys.INDEXED:
            indexed = await redis.hgetall(raw)
            found[key] = {k: text(v).partition("|")[2] for k, v in indexed.items()}
        elif kind == "stream" and key != store_keys.EVENTS:
            continue
        elif kind == "hash":
            found[key] = await redis.hgetall(raw)
        elif kind == "zset":
            found[key] = await redis.zrange(raw, 0, -1, withscores=True)
        elif kind == "set":
            found[key] = sorted(await redis.smembers(raw))
        elif kind == "stream":
            found[key] = [fields for _, fields in await redis.xrange(raw) or []]
        else:
            found[key] = await redis.get(raw)
    return found


async def test_bulk_writes_leave_the_keys_the_create_script_leaves(inventory: Inventory) -> None:
    redis = inventory.store.redis
    await inventory.store.categories.create_many(category_tree()[:12])  # d0, d0-a0 and shelves
    drafts = [draft(n) for n in range(40)]
    drafts = [
        (i, replace(f, category_id=f"d0-a0-s{n % 10}"), q) for n, (i, f, q) in enumerate(drafts)
    ]
    for k, (product_id_, fields, quantity) in enumerate(drafts):
        await inventory.store.products.create(product_id_, fields, quantity, 1, 5_000 + 3 * k)
    by_script = await _contents(redis)

    for product_id_, _, _ in drafts:
        await inventory.store.products.delete(product_id_, 0)
    await redis.delete(store_keys.EVENTS, store_keys.INDEXED)
    await inventory.store.products.create_many(drafts[:25], 1, 5_000, apart_ms=3)
    await inventory.store.products.create_many(drafts, 1, 5_000, apart_ms=3)  # 25 kept as they were
    assert await _contents(redis) == by_script


async def test_bulk_writes_refuse_a_missing_category_before_writing(inventory: Inventory) -> None:
    _, fields, quantity = draft(1)
    with pytest.raises(CategoryNotFound):
        await inventory.store.products.create_many([("p1", fields, quantity)], 1, 5_000)
    assert await inventory.store.products.get("p1") is None

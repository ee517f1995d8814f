"""What a ListProducts page costs in Redis as the catalogue grows (issue 11).

`measure(redis_url, sizes)` empties the given (throwaway!) Redis, loads the bulk catalogue
(estore/inventory/store_bulk.py) up to each size in turn, and pages through each query shape
with the real ProductService. Per page it reports:

- redis_ms_per_page: Redis time of every command the page sent (the listing script with all it
  runs, the product reads, the subtree's pre-reads), summed from SLOWLOG with a 0 µs threshold,
  which logs top-level commands only, so nothing is counted twice;
- script_ms_per_page: of that, the listing script alone (INFO commandstats usec of EVALSHA,
  which includes the commands it runs): the time other scripts, such as ReserveStock, wait;
- wall_ms_per_page: the service call as a client of the store sees it.

Each is the median over the full pages measured (first page on, from the first again when the
listing ends), so that a page preempted on a busy machine does not skew it.

Run it alone: `python -m estore.bench.catalogue --sizes 1000,100000,1000000 --out DIR` (starts
a throwaway Redis unless --redis-url is given) prints a table, and with --out writes it with the
rows as JSON and a chart (PNG) into DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from estore.common.redis import text
from estore.inventory import store_keys
from estore.inventory.models import Money, ProductFilter, system_clock
from estore.inventory.rules_listing import PageTokenSource, catalog_query, parse_order_by
from estore.inventory.service_products import ProductService
from estore.inventory.store import InventoryStore
from estore.inventory.store_bulk import load

_LOW, _HIGH = Money("USD", 10_000), Money("USD", 15_000)  # about 10 % of the bulk prices
# The shapes of issue 11's table, then a subtree and a price range with a tag.
SHAPES: dict[str, tuple[ProductFilter, str]] = {
    "all, by created_at": (ProductFilter(), "created_at"),
    "in_stock, by price": (ProductFilter(in_stock=True), "price"),
    "a price range": (ProductFilter(min_price=_LOW, max_price=_HIGH), ""),
    "one tag": (ProductFilter(tags=("sale",)), ""),
    "one name word": (ProductFilter(query="steel"), ""),
    "in_stock + word, by name": (ProductFilter(in_stock=True, query="red"), "name"),
    "category with subtree": (ProductFilter(category_id="d3", include_subcategories=True), ""),
    # Half the prices, so that even 1,000 products fill a page of 50 (a 10 % range would match
    # 12 there: a page of 12 against pages of 50 compares nothing).
    "price + tag, by price": (
        ProductFilter(tags=("eco",), min_price=Money("USD", 100), max_price=Money("USD", 25_000)),
        "price",
    ),
}
_NOT_THE_PAGE = {"slowlog", "info", "config"}
PAGE_SIZE = 50


@dataclass
class _Cost:
    redis_us: int = 0
    script_us: int = 0
    wall_s: float = 0.0
    products: int = 0


def _median(values: Sequence[float]) -> float:
    """The median: one page preempted on a busy machine does not move it."""
    return statistics.median(values) if values else 0.0


async def _evalsha_usec(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(
        int(stats.get(name, {}).get("usec", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )


async def _page_cost(
    redis: Redis, service: ProductService, f: ProductFilter, order_by: str, token: str
) -> tuple[_Cost, str]:
    script_before = await _evalsha_usec(redis)
    await redis.slowlog_reset()
    started = time.perf_counter()
    page = await service.list_products(f, order_by, PAGE_SIZE, token)
    wall = time.perf_counter() - started
    entries: list[dict[str, Any]] = await redis.slowlog_get(100_000)
    script = await _evalsha_usec(redis) - script_before
    redis_us = sum(
        int(e["duration"])
        for e in entries
        if text(e["command"]).split(" ", 1)[0].lower() not in _NOT_THE_PAGE
    )
    return _Cost(redis_us, script, wall, len(page.products)), page.next_page_token


async def _shape_row(
    store: InventoryStore, service: ProductService, shape: str, size: int, pages: int
) -> dict[str, Any]:
    redis = store.redis
    assert isinstance(redis, Redis)  # the catalogue bench starts a single Redis of its own
    f, order_by = SHAPES[shape]
    await service.list_products(f, order_by, 50, "")  # warm: scripts loaded, layout checked
    costs: list[_Cost] = []
    token = ""
    for _ in range(pages):  # from the first page again when the listing ends
        cost, token = await _page_cost(redis, service, f, order_by, token)
        costs.append(cost)
    # Full pages only, when there are any: a small catalogue's short last page would make the
    # small size look cheaper than it is.
    costs = [c for c in costs if c.products == PAGE_SIZE] or costs
    return {
        "query shape": shape,
        "size": size,
        "rows_examined_per_page": await _rows_examined(store, f, order_by, pages),
        "redis_ms_per_page": round(_median([c.redis_us for c in costs]) / 1000, 3),
        "script_ms_per_page": round(_median([c.script_us for c in costs]) / 1000, 3),
        "wall_ms_per_page": round(_median([c.wall_s for c in costs]) * 1000, 3),
        "products_per_page": round(_median([c.products for c in costs]), 1),
        "pages": len(costs),
    }


async def _rows_examined(
    store: InventoryStore, f: ProductFilter, order_by: str, pages: int
) -> float:
    """The median index rows the listing script examined per page: the cost without the noise."""
    query = catalog_query(f, parse_order_by(order_by), "USD")
    examined: list[float] = []
    cursor = None
    for _ in range(pages):
        page = await store.catalog.page(query, cursor, 50)
        examined.append(page.examined)
        if (cursor := page.next_cursor) is None:
            break
    return _median(examined)


async def measure(
    redis_url: str,
    sizes: Sequence[int],
    *,
    pages: int = 10,
    quiet: bool = False,
    keep: bool = False,
) -> list[dict[str, Any]]:
    """Rows of {query shape, size, redis_ms_per_page, ...} for each size; FLUSHALLs the Redis
    first unless `keep` (then it must hold the bulk catalogue, no larger than the first size)."""
    redis = Redis.from_url(redis_url)
    try:
        if not keep:
            await redis.flushall()
        loaded = int(await redis.zcard(store_keys.BY_CREATED))
        if loaded > min(sizes):
            raise ValueError(f"the Redis holds {loaded:,} products, more than {min(sizes):,}")
        await redis.config_set("slowlog-log-slower-than", 0)
        await redis.config_set("slowlog-max-len", 100_000)
        store = InventoryStore(redis)
        await store.load_scripts()
        tokens = PageTokenSource("bench-page-token-secret", store.shared_page_token_secret)
        service = ProductService(store, currency="USD", clock=system_clock, tokens=tokens)
        rows = []
        empty = int((await redis.info("memory"))["used_memory"])  # before any product
        load_seconds = 0.0  # loading to each size, all steps so far
        for size in sorted(sizes):
            report = await load(store, size, start=loaded, progress=None if quiet else _progress)
            loaded, load_seconds = size, load_seconds + report.seconds
            per_product = (int((await redis.info("memory"))["used_memory"]) - empty) / size
            if not quiet:
                print(
                    f"\nloaded to {size:,} (+{report.products:,} in {report.seconds:.1f} s, "
                    f"{load_seconds:.1f} s in all); {per_product:,.0f} B of used_memory per "
                    "product",
                    file=sys.stderr,
                )
            for shape in SHAPES:
                row = await _shape_row(store, service, shape, size, pages)
                row |= {"used_memory_per_product": round(per_product)}
                rows.append(row | {"load_seconds": round(load_seconds, 1)})
        return rows
    finally:
        await redis.config_set("slowlog-log-slower-than", 10_000)
        await redis.aclose()


def _progress(done: int, total: int, seconds: float) -> None:
    print(
        f"\rloading {done:,} / {total:,} ({done / max(seconds, 1e-9):,.0f}/s)",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _cell(row: dict[str, Any]) -> str:
    times = f"{row['redis_ms_per_page']:.3f}/{row['script_ms_per_page']:.3f}/"
    return f"{times}{row['wall_ms_per_page']:.1f}, {row['rows_examined_per_page']:.0f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a text table: one line per shape, Redis ms per page at each size."""
    sizes = sorted({row["size"] for row in rows})
    shapes = list(dict.fromkeys(row["query shape"] for row in rows))
    by = {(row["query shape"], row["size"]): row for row in rows}
    head = f"{'query shape':26}" + "".join(f"{f'{s:,}':>28}" for s in sizes) + "   ratio"
    units = "redis/script/wall ms, rows"
    lines = [head, f"{'':26}" + "".join(f"{units:>28}" for _ in sizes)]
    for shape in shapes:
        cells = [by[(shape, s)] for s in sizes]
        line = f"{shape:26}" + "".join(_cell(c).rjust(28) for c in cells)
        ratio = cells[-1]["redis_ms_per_page"] / max(cells[0]["redis_ms_per_page"], 1e-9)
        lines.append(f"{line}  {ratio:5.2f}x")
    return "\n".join(lines)


async def _rows(
    sizes: Sequence[int], pages: int, redis_url: str | None, keep: bool
) -> list[dict[str, Any]]:
    if redis_url:
        return await measure(redis_url, sizes, pages=pages, keep=keep)
    from estore.embedded.redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="estore-bench-catalogue-") as folder:
        server = EmbeddedRedis(Path(folder))
        server.start()
        try:
            return await measure(server.url(), sizes, pages=pages)
        finally:
            server.stop()


def run(
    sizes: Sequence[int],
    pages: int,
    out: Path | None,
    redis_url: str | None = None,
    *,
    keep: bool = False,
) -> int:
    """Measure, print the table, and write the report into `out` if given (`estore bench
    --catalogue` and this module's main)."""
    rows = asyncio.run(_rows(sizes, pages, redis_url, keep))
    print(table(rows))
    if out is not None:
        for path in write(rows, out):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,100000", help="catalogue sizes, comma-separated")
    parser.add_argument("--pages", type=int, default=10, help="pages measured per shape and size")
    parser.add_argument("--redis-url", help="a throwaway Redis (FLUSHALL!); default: start one")
    parser.add_argument(
        "--keep", action="store_true", help="with --redis-url: measure the bulk catalogue there"
    )
    parser.add_argument("--out", help="folder for catalogue-<time>.json, .txt and .png")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    out = Path(args.out) if args.out else None
    return run(sizes, args.pages, out, args.redis_url, keep=args.keep)


def write(rows: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    """The rows as JSON, the table as text and the chart as PNG, into `folder`."""
    from estore.bench.catalogue_chart import draw  # matplotlib: only when a chart is asked for

    stem = folder / f"catalogue-{time.strftime('%Y%m%dT%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(list(rows), indent=1))
    stem.with_suffix(".txt").write_text(table(rows) + "\n")
    return [
        stem.with_suffix(".json"),
        stem.with_suffix(".txt"),
        draw(rows, stem.with_suffix(".png")),
    ]


if __name__ == "__main__":
    sys.exit(main())

"""Inventory spreads over a Redis Cluster: after an order load over many products, no master
holds more than half of Inventory's keys, nor runs more than half of its commands."""

from __future__ import annotations

from estore.common.redis import connect_redis
from estore.embedded.redis_cluster import EmbeddedRedisCluster
from estore.inventory.models import ProductFilter
from estore.inventory.store_stock import Hold
from estore.inventory.task_indexer import Indexer, leases
from tests.helpers import spread
from tests.integration.inventory.conftest import FakeClock, build_inventory

PRODUCTS = 60
ORDERS = 120


async def test_an_order_load_spreads_over_every_master(redis_cluster: EmbeddedRedisCluster) -> None:
    redis_cluster.flush()
    masters = [redis_cluster.client(port) for port in redis_cluster.masters()]
    redis = connect_redis(redis_cluster.url(), "test")
    try:
        inventory = build_inventory(redis, FakeClock())
        names = [
            f"{colour} {thing}"
            for colour in ("Red", "Blue", "Green")
            for thing in ("Tea", "Cup", "Pot", "Mug")
        ]
        products = [
            await inventory.product(names[n % len(names)], quantity=100) for n in range(PRODUCTS)
        ]
        for master in masters:
            master.config_resetstat()
        stock, now = inventory.store.stock, inventory.clock.now
        indexer = Indexer(redis, inventory.store.index, leases(redis, 30))
        for n in range(ORDERS):
            # A basket of two products, as Payments holds and then sells it.
            basket = [products[n % PRODUCTS].id, products[(7 * n + 3) % PRODUCTS].id]
            holds = [Hold(p, f"order-{n}-{k}", 1, now + 60_000) for k, p in enumerate(basket)]
            await stock.reserve_many(holds, now)
            await stock.commit_many([(hold.id, hold.product_id) for hold in holds], now)
            if n % 10 == 9:  # the indexer's pass: this instance's held-back events, the buckets
                await indexer.run_once()
        await indexer.run_once()
        assert await inventory.stock.expire_due_reservations() == 0
        listed = await inventory.products.list_products(ProductFilter(), "", 100, "")
        assert len(listed.products) == PRODUCTS
        events = await inventory.store.events.read_after("0-0", 1000)
        assert len(events.events) == PRODUCTS + 4 * ORDERS  # every event merged, once
    finally:
        await redis.aclose()
    keys, commands = spread(masters, "inv:*")
    assert max(keys) <= sum(keys) / 2, keys
    assert max(commands) <= sum(commands) / 2, commands
    assert min(keys) > 0
    assert min(commands) > 0

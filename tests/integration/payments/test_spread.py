"""Payments spreads over a Redis Cluster: after an order load by many users, no master holds
more than half of Payments' keys, nor runs more than half of its commands."""

from __future__ import annotations

from estore.common.auth import Caller
from estore.common.redis import connect_redis
from estore.embedded.redis_cluster import EmbeddedRedisCluster
from estore.payments.cards import CardInput
from estore.payments.indexer import Indexer
from estore.payments.sweep_leases import BucketLeases
from tests.helpers import spread
from tests.integration.payments.conftest import ADMIN, build_payments

USERS = 40


async def test_an_order_load_spreads_over_every_master(redis_cluster: EmbeddedRedisCluster) -> None:
    redis_cluster.flush()
    masters = [redis_cluster.client(port) for port in redis_cluster.masters()]
    for master in masters:
        master.config_resetstat()
    redis = connect_redis(redis_cluster.url(), "test")
    try:
        p = build_payments(redis)
        p.inventory.available["tea"] = 1000
        card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
        for user_id in range(1, USERS + 1):
            buyer = Caller(user_id=user_id, is_verified=True)
            method = await p.service.add_card(buyer, card, f"card-{user_id}")
            for n in range(2):
                await p.service.create_order(buyer, "tea", 1, method.id, f"order-{user_id}-{n}")
        await Indexer(redis, BucketLeases(redis, 30)).run_once()
        listed, _ = await p.service.list_orders(ADMIN, None, 0, 200, "")
        assert len(listed) == 2 * USERS
    finally:
        await redis.aclose()
    keys, commands = spread(masters, "pay:*")
    assert max(keys) <= sum(keys) / 2, keys
    assert max(commands) <= sum(commands) / 2
    assert min(keys) > 0

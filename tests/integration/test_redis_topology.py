"""A Redis URL whose form does not match the server fails loudly at start, never half serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from redis.exceptions import NoPermissionError

from estore.common.config import ConfigError, Settings
from estore.common.redis import RedisProbe, connect_redis
from estore.common.server import ServiceDefinition
from estore.embedded.redis import EmbeddedRedis
from estore.embedded.redis_cluster import EmbeddedRedisCluster
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments

SERVICES: dict[str, Callable[[Settings], Awaitable[ServiceDefinition]]] = {
    "inventory": create_inventory,
    "payments": create_payments,
}


def _a_node_without_its_slots(cluster: EmbeddedRedisCluster) -> str:
    """A plain redis:// URL to a master that does not hold Inventory's `{inv}` slot."""
    node = cluster.client(cluster.ports[0])
    slot = int(node.cluster("KEYSLOT", "{inv}"))
    owner = next(int(e[2][1]) for e in node.cluster("SLOTS") if int(e[0]) <= slot <= int(e[1]))
    other = next(port for port in cluster.masters() if port != owner)
    return f"redis://127.0.0.1:{other}/0"


@pytest.mark.parametrize("service", SERVICES)
async def test_a_plain_url_to_a_cluster_node_refuses_to_start(
    service: str, redis_cluster: EmbeddedRedisCluster, feed_env: dict[str, str]
) -> None:
    url = _a_node_without_its_slots(redis_cluster)
    settings = Settings.from_env({"ESTORE_REDIS_URL": url, **feed_env})
    with pytest.raises(ConfigError, match="redis\\+cluster://") as caught:
        await SERVICES[service](settings)
    assert f"ESTORE_{service.upper()}_REDIS_URL" in str(caught.value)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_cluster_url_to_a_single_redis_refuses_to_start(
    service: str, redis_server: EmbeddedRedis, feed_env: dict[str, str]
) -> None:
    url = f"redis+cluster://127.0.0.1:{redis_server.port}"
    settings = Settings.from_env({"ESTORE_REDIS_URL": url, **feed_env})
    with pytest.raises(ConfigError, match="is not one"):
        await SERVICES[service](settings)


async def test_the_probe_never_reports_a_mismatched_store_healthy(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    # Redis was down at start, so the check waits for the probe: it must not say SERVING.
    redis = connect_redis(_a_node_without_its_slots(redis_cluster), "ESTORE_INVENTORY_REDIS_URL")
    probe = RedisProbe(redis, "ESTORE_INVENTORY_REDIS_URL")
    try:
        for _ in range(2):
            with pytest.raises(ConfigError):
                await probe()
    finally:
        await probe.close()
        await redis.aclose()


async def test_the_probe_pings_every_master_of_a_cluster(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    redis = connect_redis(redis_cluster.url(), "ESTORE_REDIS_URL")
    probe = RedisProbe(redis)
    try:
        assert await probe()
    finally:
        await probe.close()
        await redis.aclose()


async def test_a_user_refused_info_still_starts(
    redis_server: EmbeddedRedis, feed_env: dict[str, str]
) -> None:
    # Hardened ACLs deny @dangerous, INFO among it: the topology check is skipped, not fatal.
    admin = connect_redis(redis_server.url(), "test")
    user = "estore-no-dangerous"
    await admin.acl_setuser(
        user,
        enabled=True,
        passwords=["+pw"],
        keys=["*"],
        channels=["*"],
        categories=["+@all", "-@dangerous"],
    )
    try:
        url = f"redis://{user}:pw@127.0.0.1:{redis_server.port}/0"
        settings = Settings.from_env({"ESTORE_REDIS_URL": url, **feed_env})
        limited = connect_redis(url, "test")
        with pytest.raises(NoPermissionError):
            await limited.info("cluster")
        await limited.aclose()
        definition = await create_inventory(settings)  # raised NoPermissionError before
        for stop in definition.on_stop:
            await stop()
    finally:
        await admin.acl_deluser(user)
        await admin.aclose()

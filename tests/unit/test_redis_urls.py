"""The redis+cluster:// URL form: every node, credentials, TLS, options; malformed ones refused."""

from __future__ import annotations

import pytest

from estore.common.config import ConfigError
from estore.common.redis import connect_redis
from estore.common.redis_cluster import BoundedCluster, cluster_options, is_cluster_url


def test_a_cluster_url_names_every_startup_node_with_shared_credentials() -> None:
    options = cluster_options(
        "redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/0?socket_timeout=3",
        "ESTORE_REDIS_URL",
    )
    nodes = [(node.host, int(node.port)) for node in options.pop("startup_nodes")]
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert options == {"username": "app", "password": "s@cret", "socket_timeout": 3.0}


def test_rediss_cluster_is_tls() -> None:
    options = cluster_options("rediss+cluster://cache:6379", "X")
    assert options["ssl"] is True


def test_only_the_cluster_schemes_are_cluster_urls() -> None:
    assert is_cluster_url("redis+cluster://h:1")
    assert is_cluster_url("rediss+cluster://h:1,h:2")
    assert not is_cluster_url("redis://h:6379/0")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://h:7000/2", "only database 0"),
        ("redis+cluster://h", "not host:port"),
        ("redis+cluster://h:7000,h2", "not host:port"),
        ("redis+cluster://", "at least one host:port"),
        ("redis+cluster://h:7000?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_malformed_cluster_urls_are_a_config_error(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        cluster_options(url, "ESTORE_INVENTORY_REDIS_URL")
    assert "ESTORE_INVENTORY_REDIS_URL" in str(caught.value)


async def test_a_cluster_client_never_sends_a_failed_command_again() -> None:
    # A script whose reply was lost may have run: sending it again could apply it twice.
    client = connect_redis("redis+cluster://127.0.0.1:7000", "ESTORE_REDIS_URL")
    assert isinstance(client, BoundedCluster)
    assert client.retry.get_retries() == 0
    await client.aclose()

"""Commands packed by hiredis are byte for byte those of redis-py's Python packer."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from estore.common.redis import connect_redis, dedicated_redis
from estore.common.redis_cluster import BoundedCluster
from estore.common.redis_packing import HiredisPacking, hiredis_packing

PYTHON = Connection()
HIREDIS = hiredis_packing(Connection, {})()


class Colour(enum.IntEnum):
    RED = 1


class Size(enum.StrEnum):
    LARGE = "L"


class Price(float):
    def __repr__(self) -> str:
        return "a price"


texts = st.text() | st.sampled_from(["", "é☃", "a b", "\ud800", "x" * 7000])
numbers = st.integers() | st.integers(min_value=-(2**200), max_value=2**200) | st.floats()
blobs = st.binary() | st.binary(min_size=6001, max_size=9000)
oddities = st.sampled_from(
    [True, None, [1], Colour.RED, Size.LARGE, Price(2.5), bytearray(b"ab"), memoryview(b"cd")]
)
arguments = texts | numbers | blobs | oddities
names = st.sampled_from(["EVALSHA", "CONFIG GET", b"SET", b"CLIENT  SETNAME", "a\tb", 1.5, 7])


def _packed(pack: Any, *args: Any) -> bytes | tuple[type, str]:
    try:
        return b"".join(pack(*args))
    except (AssertionError, DataError, TypeError, UnicodeError) as error:
        return type(error), str(error)


@given(names, st.lists(arguments, max_size=60))
def test_a_command_packs_to_the_same_bytes_or_error(name: Any, args: list[Any]) -> None:
    assert _packed(HIREDIS.pack_command, name, *args) == _packed(PYTHON.pack_command, name, *args)


command_names = st.sampled_from(["EVALSHA", "CONFIG GET", b"SET", b"CLIENT  SETNAME"])


@given(st.lists(st.tuples(command_names, st.lists(texts | numbers | blobs, max_size=10))))
def test_a_pipeline_packs_to_the_same_bytes(commands: list[tuple[Any, list[Any]]]) -> None:
    plain = [(name, *args) for name, args in commands]
    assert _packed(HIREDIS.pack_commands, plain) == _packed(PYTHON.pack_commands, plain)


def test_other_text_encodings_keep_redis_pys_packer() -> None:
    assert hiredis_packing(Connection, {"encoding": "latin-1"}) is Connection
    assert hiredis_packing(Connection, {"encoding_errors": "replace"}) is Connection
    assert issubclass(hiredis_packing(Connection, {"encoding": "UTF8"}), HiredisPacking)


@pytest.mark.parametrize("kind", [Connection, SSLConnection, UnixDomainSocketConnection])
def test_each_kind_of_connection_keeps_its_kind(kind: type[Connection]) -> None:
    packing = hiredis_packing(kind, {})
    assert issubclass(packing, kind)
    assert issubclass(packing, HiredisPacking)
    assert hiredis_packing(packing, {}) is packing


async def test_single_redis_and_its_dedicated_clients_pack_with_hiredis() -> None:
    for url in ("redis://localhost:1/0", "rediss://localhost:1/0", "unix:///tmp/none.sock"):
        redis = connect_redis(url, "ESTORE_REDIS_URL")
        dedicated = dedicated_redis(redis)
        for client in (redis, dedicated):
            assert isinstance(client, Redis)
            assert issubclass(client.connection_pool.connection_class, HiredisPacking)
            await client.aclose()


async def test_cluster_nodes_known_and_learnt_pack_with_hiredis() -> None:
    for url in ("redis+cluster://localhost:1,localhost:2", "rediss+cluster://localhost:1"):
        cluster = connect_redis(url, "ESTORE_REDIS_URL")
        assert isinstance(cluster, BoundedCluster)
        for client in (cluster, cluster.dedicated()):
            manager = client.nodes_manager
            assert issubclass(manager.connection_kwargs["connection_class"], HiredisPacking)
            for node in manager.startup_nodes.values():
                assert issubclass(node.connection_class, HiredisPacking)
                assert isinstance(node.acquire_connection(), HiredisPacking)

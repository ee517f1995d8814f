"""Redis Cluster clients: the `redis+cluster://` URL form, and bounded waits for a connection.

`redis+cluster://[user:password@]host:port,host:port[/0][?option=value]` (or `rediss+cluster://`
for TLS) names some nodes of one cluster; the client learns the rest from them. Options are
redis-py's URL options, as for `redis://`. A cluster has only database 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from redis._parsers import AsyncCommandsParser
from redis.asyncio import connection as redis_connection
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from estore.common.config import ConfigError
from estore.common.redis_packing import hiredis_packing

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# Set while a task holds a permit: a pipeline that falls back to single commands, or a
# command that reloads a script, must not wait for a second permit (it could wait for ever).
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("holding_permit", default=False)


# A cluster that answers but cannot serve now (failing over, slots moving, slots uncovered).
CLUSTER_DOWN: tuple[type[Exception], ...] = (ClusterDownError, TryAgainError, SlotNotCoveredError)


class ClusterPoolExhausted(ConnectionError):
    """Every permitted connection stayed busy for the whole wait: busy, not down."""


class ClusterUnreachable(ConnectionError):
    """No node of the cluster answered, or those that did do not serve every slot."""


class ConnectionClosedUnderCall(ConnectionError):
    """redis-py closed a connection while a call was using it: the call may have run."""


@contextlib.contextmanager
def _closed_connections_as_errors() -> Iterator[None]:
    """Turn a connection closed under a call into a ConnectionError (UNAVAILABLE)."""
    # After a failed command redis-py closes its node's idle connections without taking them
    # out of the pool, so a call that has just taken one finds its reader or writer gone and
    # raises AttributeError (INTERNAL), which happens to every busy client in a failover.
    try:
        yield
    except AttributeError as error:
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        if frame is None or frame.tb_frame.f_code.co_filename != redis_connection.__file__:
            raise
        raise ConnectionClosedUnderCall("a Redis connection was closed under the call") from error


class NotACluster(RedisClusterException):
    """A node named by a redis+cluster:// URL answered, but not as a cluster node."""


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (`redis+cluster://` or `rediss+cluster://`)."""
    return urlsplit(url).scheme in SCHEMES


def _node(address: str, variable: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{variable}: {address!r} is not host:port")
    return host.strip("[]"), int(port)


def cluster_options(url: str, variable: str) -> dict[str, Any]:
    """RedisCluster's keyword arguments for a `redis+cluster://` URL; ConfigError if malformed."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    nodes = [_node(address, variable) for address in hosts.split(",") if address]
    if not nodes:
        raise ConfigError(f"{variable}: a redis+cluster:// URL names at least one host:port")
    first = f"{credentials}@{hosts.split(',')[0]}" if credentials else hosts.split(",")[0]
    plain = urlunsplit((SCHEMES[parts.scheme], first, parts.path, parts.query, ""))
    try:
        options: dict[str, Any] = dict(parse_url(plain))
    except ValueError as error:
        raise ConfigError(f"{variable}: {error}") from None
    if options.pop("db", 0):
        raise ConfigError(f"{variable}: a Redis Cluster has only database 0")
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    options["startup_nodes"] = [ClusterNode(host, port) for host, port in nodes]
    return options


class SharedCommandTable(AsyncCommandsParser):
    """Redis's COMMAND table (where each command's keys are), read once per process."""

    # A cluster client reads the whole table (thousands of lines) each time it learns the
    # cluster's layout: at start, and again after every failover. Every client of this
    # process asks the same servers, so they share one copy; a command missing from it
    # (a server upgraded meanwhile) makes redis-py read it again (initialize without a node).
    _table: ClassVar[dict[str, Any]] = {}

    async def initialize(self, node: ClusterNode | None = None) -> None:
        if node is not None and SharedCommandTable._table:
            self.node = node
            self.commands = SharedCommandTable._table
            return
        await super().initialize(node)
        SharedCommandTable._table = self.commands


class BoundedCluster(RedisCluster):
    """A RedisCluster where a call waits a bounded time for a connection (then busy)."""

    # redis-py's cluster raises at once when a node's connections are all in use. Here every
    # command or pipeline first takes one of `max_connections` permits, waiting at most
    # `pool_timeout`; each uses at most one connection per node, so no node runs out.

    def __init__(self, *, pool_timeout: float, **options: Any) -> None:
        super().__init__(**options)
        # redis-py's cluster picks its connection class itself (plain or TLS): every node's
        # connections, those of the nodes it knows now and of those it learns, pack with hiredis.
        shared = self.nodes_manager.connection_kwargs
        shared["connection_class"] = hiredis_packing(shared["connection_class"], shared)
        for node in self.nodes_manager.startup_nodes.values():
            node.connection_class = shared["connection_class"]
        self.commands_parser = SharedCommandTable()
        self.options = options
        self.pool_timeout = pool_timeout
        self._permits = asyncio.Semaphore(options.get("max_connections", 100))

    @contextlib.asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Hold one of the client's permits for a command or pipeline."""
        if _holding.get():
            yield
            return
        try:
            await asyncio.wait_for(self._permits.acquire(), self.pool_timeout)
        except TimeoutError:
            raise ClusterPoolExhausted("no Redis connection became free in time") from None
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._permits.release()

    async def initialize(self, *args: Any, **kwargs: Any) -> BoundedCluster:
        """Learn the cluster's nodes and slots; an unreachable cluster is a store down."""
        try:
            await super().initialize(*args, **kwargs)
        except NotACluster:
            raise
        except RedisClusterException as error:
            # redis-py says both "no node answered" and "not a cluster" with this one class;
            # the first node error it saw (its cause) tells them apart.
            if isinstance(error.__cause__, RedisClusterException):
                raise NotACluster(str(error)) from error
            raise ClusterUnreachable(str(error)) from error
        return self

    async def aclose(self) -> None:
        """Close every connection, also after a failed command."""
        if _holding.get():
            # redis-py resets the client from inside a command (after CLUSTERDOWN, or many
            # MOVED): re-read the layout, but leave alone the connections other calls are
            # using (one closed under a call fails it with AttributeError: INTERNAL).
            self._initialize = True
            for node in self.get_nodes():
                await node.disconnect_free_connections()
            return
        # A command that met a dead node sets `_initialize` ("re-read the layout"), and
        # redis-py's aclose then closes nothing: a client dropped after a failure (the health
        # probe's, during a failover) left its sockets to the live nodes open.
        await super().aclose()
        await self.nodes_manager.aclose()
        await self.nodes_manager.aclose("startup_nodes")

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.permit():
            with _closed_connections_as_errors():
                return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py
        return BoundedClusterPipeline(self, transaction)  # type: ignore[abstract]  # mypy only

    def dedicated(self) -> BoundedCluster:
        """Another client to the same cluster, with one connection per node of its own."""
        known = self.get_nodes() or self.options["startup_nodes"]
        options = self.options | {
            "max_connections": 1,
            "startup_nodes": [ClusterNode(node.host, node.port) for node in known],
        }
        return BoundedCluster(pool_timeout=self.pool_timeout, **options)

    def connection_counts(self) -> tuple[int, int]:
        """(idle, in use) connections over every node."""
        idle = used = 0
        for node in self.get_nodes():
            free = len(node._free)  # redis-py keeps no public count for a cluster node
            idle += free
            used += len(node._connections) - free
        return idle, used


class BoundedClusterPipeline(ClusterPipeline):
    """A cluster pipeline that takes one of its client's permits while it runs."""

    cluster_client: BoundedCluster

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        async with self.cluster_client.permit():
            with _closed_connections_as_errors():
                return await super().execute(raise_on_error, allow_redirections)

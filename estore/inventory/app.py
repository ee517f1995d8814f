"""Wires InventoryService to its Redis: store, scripts, services, sweeper and health probe."""

from __future__ import annotations

import contextlib

from estore.common.config import ConfigError, Settings
from estore.common.errors import Unavailable
from estore.common.metrics import Sample
from estore.common.redis import (
    RedisProbe,
    check_topology_at_start,
    connect_redis,
    connection_samples,
    dedicated_redis,
)
from estore.common.runtime import follow_revocations
from estore.common.server import ServiceDefinition
from estore.inventory import task_indexer
from estore.inventory.cache_products import ProductCache
from estore.inventory.codec_wire import BytesReplies, ProductEncoder
from estore.inventory.models import Clock, system_clock
from estore.inventory.rules_listing import PageTokenSource
from estore.inventory.service_categories import CategoryService
from estore.inventory.service_products import ProductService
from estore.inventory.service_stock import StockService
from estore.inventory.service_watch import WatchService
from estore.inventory.servicer import InventoryServicer
from estore.inventory.store import InventoryStore
from estore.inventory.task_event_feed import EventFeed
from estore.inventory.task_sweeper import LeasedSlices, ReservationSweeper
from estore.inventory.task_view_counts import ViewCounts
from generated.estore.inventory.v1 import inventory_service_pb2 as inventory_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

FULL_NAME = inventory_pb.DESCRIPTOR.services_by_name["InventoryService"].full_name
# The largest legitimate request is an UpdateProduct with a 5,000-character description,
# 20 tags of 50 characters and a 2,048-character image URL: about 33 KiB when every character
# takes 4 bytes in UTF-8. 128 KiB leaves room to grow and refuses anything bigger unread.
MAX_MESSAGE_BYTES = 128 * 1024
# The leased sweep's passes are at most this far apart, each over its slice of the buckets
# (a full turn still takes about a second): one pass over all 1,024 buckets pipelines 1,024
# reads whose replies are parsed without yielding, 20 to 45 ms with the event loop blocked
# on a shared core, which every GetProduct arriving meanwhile waited out.
SWEEP_PASS_SECONDS = 0.05


def build_servicer(
    store: InventoryStore, settings: Settings, clock: Clock = system_clock
) -> tuple[InventoryServicer, StockService, EventFeed, ViewCounts]:
    """The servicer over `store`, its stock service (which the sweeper drives), its feed and
    its view counts (flushed in the background)."""
    if settings.page_token_secret is not None and len(settings.page_token_secret) < 16:
        raise ConfigError("ESTORE_PAGE_TOKEN_SECRET must be at least 16 characters")
    tokens = PageTokenSource(settings.page_token_secret, store.shared_page_token_secret)
    cache = ProductCache(
        ProductEncoder(settings.currency), max_products=settings.inventory_cache_products
    )
    products = ProductService(
        store, currency=settings.currency, clock=clock, tokens=tokens, cache=cache
    )
    stock = StockService(store, default_ttl_seconds=settings.reservation_ttl_seconds, clock=clock)
    categories = CategoryService(store, tokens=tokens)
    # The feed's reader also keeps the near cache: it drops what changes, and says when the
    # cache may not be trusted (cache_products.py).
    feed = EventFeed(store.events, max_watchers=settings.inventory_max_watchers, listener=cache)
    servicer = InventoryServicer(
        products, stock, categories, WatchService(feed), currency=settings.currency
    )
    return servicer, stock, feed, products.views


async def create_service(
    settings: Settings, *, sweep_interval: float = 1.0, clock: Clock = system_clock
) -> ServiceDefinition:
    """Connect to Redis (lazily), load the scripts, start the sweeper, follow revocations."""
    redis = connect_redis(
        settings.inventory_redis_url,
        "ESTORE_INVENTORY_REDIS_URL",
        max_connections=settings.redis_max_connections,
        pool_timeout=settings.pool_timeout_seconds,
    )
    await check_topology_at_start(redis, "ESTORE_INVENTORY_REDIS_URL")
    # The watchers' reader blocks in XREAD: it has a connection of its own.
    reader = dedicated_redis(redis)
    probe = RedisProbe(redis, "ESTORE_INVENTORY_REDIS_URL")
    store = InventoryStore(redis, reader=reader)
    servicer, stock, feed, views = build_servicer(store, settings, clock)
    revocations, stop_following = await follow_revocations(settings, "inventory")
    with contextlib.suppress(Unavailable):  # Redis down now: scripts load on first use
        await store.load_scripts()
        await store.layout.ready()  # re-index older data now (else before the first listing)
    # The reservation sweep and the indexer share the bucket leases: each bucket is swept and
    # indexed by one live instance, and a dead one's buckets are taken within a lease.
    held = task_indexer.leases(redis, lease_seconds=max(3 * sweep_interval, 1.0))
    indexer = task_indexer.Indexer(redis, store.index, held)

    pass_interval = min(sweep_interval, SWEEP_PASS_SECONDS)
    leased = LeasedSlices(held.buckets, pass_interval)

    async def sweep() -> int:
        return await stock.expire_due_reservations(await leased())

    sweeper = ReservationSweeper(sweep, interval=pass_interval)
    sweeper.start()
    indexer.start()
    views.start()
    feed.start()  # the near cache serves only while the reader follows the stream

    async def close_redis() -> None:
        await probe.close()
        with contextlib.suppress(Exception):  # Redis down: the leases lapse on their own
            await held.release()
        for client in (redis, reader):
            await client.aclose()

    async def sampler() -> list[Sample]:
        reservations = Sample(
            "estore_reservations_held",
            "Stock reservations holding units now",
            await store.stock.count_held(),
        )
        streams = Sample("estore_watch_streams", "Open WatchInventory streams", feed.watchers)
        return [
            reservations,
            streams,
            *indexer.samples(),
            *connection_samples(redis),
            *revocations.samples(),
        ]

    return ServiceDefinition(
        name="inventory",
        full_name=FULL_NAME,
        register=lambda server: inventory_grpc.add_InventoryServiceServicer_to_server(
            servicer, BytesReplies(server)
        ),
        probe=probe,
        # Views still in memory are saved before Redis closes: a clean shutdown loses none.
        on_stop=(
            stop_following,
            sweeper.stop,
            indexer.stop,
            views.stop,
            feed.close,
            close_redis,
        ),
        sampler=sampler,
        # Open WatchInventory streams count as calls in progress: room for them on top.
        max_concurrent_rpcs=settings.max_concurrent_rpcs + settings.inventory_max_watchers,
        max_message_bytes=settings.max_message_bytes or MAX_MESSAGE_BYTES,
        revocations=revocations,
    )

"""Wires InventoryService to its Redis: store, scripts, services, sweeper and health probe."""

from __future__ import annotations

import contextlib

from estore.common.config import ConfigError, Settings
from estore.common.errors import Unavailable
from estore.common.metrics import Sample
from estore.common.redis import connect_redis, connection_samples, redis_probe
from estore.common.runtime import follow_revocations
from estore.common.server import ServiceDefinition
from estore.inventory.category_service import CategoryService
from estore.inventory.listing import PageTokenSource
from estore.inventory.models import Clock, system_clock
from estore.inventory.service import ProductService
from estore.inventory.servicer import InventoryServicer
from estore.inventory.stock_service import StockService
from estore.inventory.store import InventoryStore
from estore.inventory.sweeper import ReservationSweeper
from generated.estore.inventory.v1 import inventory_service_pb2 as inventory_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

FULL_NAME = inventory_pb.DESCRIPTOR.services_by_name["InventoryService"].full_name


def build_servicer(
    store: InventoryStore, settings: Settings, clock: Clock = system_clock
) -> tuple[InventoryServicer, StockService]:
    """The servicer over `store`, and its stock service (which the sweeper drives)."""
    if settings.page_token_secret is not None and len(settings.page_token_secret) < 16:
        raise ConfigError("ESTORE_PAGE_TOKEN_SECRET must be at least 16 characters")
    tokens = PageTokenSource(settings.page_token_secret, store.shared_page_token_secret)
    products = ProductService(store, currency=settings.currency, clock=clock, tokens=tokens)
    stock = StockService(store, default_ttl_seconds=settings.reservation_ttl_seconds, clock=clock)
    categories = CategoryService(store, tokens=tokens)
    servicer = InventoryServicer(products, stock, categories, currency=settings.currency)
    return servicer, stock


async def create_service(
    settings: Settings, *, sweep_interval: float = 1.0, clock: Clock = system_clock
) -> ServiceDefinition:
    """Connect to Redis (lazily), load the scripts, start the sweeper, follow revocations."""
    redis = connect_redis(settings.inventory_redis_url, "ESTORE_INVENTORY_REDIS_URL")
    store = InventoryStore(redis)
    servicer, stock = build_servicer(store, settings, clock)
    revocations, stop_following = await follow_revocations(settings, "inventory")
    with contextlib.suppress(Unavailable):  # Redis down now: scripts load on first use
        await store.load_scripts()
    sweeper = ReservationSweeper(stock.expire_due_reservations, interval=sweep_interval)
    sweeper.start()

    async def close_redis() -> None:
        await redis.aclose()

    async def sampler() -> list[Sample]:
        held = Sample(
            "estore_reservations_held",
            "Stock reservations holding units now",
            await store.stock.count_held(),
        )
        return [held, *connection_samples(redis), *revocations.samples()]

    return ServiceDefinition(
        name="inventory",
        full_name=FULL_NAME,
        register=lambda server: inventory_grpc.add_InventoryServiceServicer_to_server(
            servicer, server
        ),
        probe=redis_probe(redis),
        on_stop=(stop_following, sweeper.stop, close_redis),
        sampler=sampler,
        revocations=revocations,
    )

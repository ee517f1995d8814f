"""The near cache across two Inventory instances on one Redis: changes show within the window,
and with the event reader down every read goes to Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis import Redis as SyncRedis
from redis.cluster import RedisCluster as SyncRedisCluster

from estore.common.auth import TokenVerifier
from estore.common.config import Settings
from estore.common.redis import connect_redis
from estore.inventory import store_keys
from estore.inventory.app import create_service
from estore.inventory.cache_products import DEFAULT_MAX_LAG_SECONDS
from estore.inventory.store_events import EventLog, announce_restore
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc
from tests.grpc.inventory.conftest import Callers, usd
from tests.helpers import running_server

Stub = inventory_grpc.InventoryServiceStub
# The documented window: another instance's change shows once this instance's reader has read
# its event (milliseconds); the reader counts as live only if it came back within this long.
WINDOW_SECONDS = DEFAULT_MAX_LAG_SECONDS


@pytest.fixture
async def pair(
    redis_url: str, token_verifier: TokenVerifier, feed_env: dict[str, str]
) -> AsyncIterator[tuple[Stub, Stub]]:
    """Two Inventory instances on the same Redis, each with its own near cache."""
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url, **feed_env})
    first = await create_service(settings, sweep_interval=0.05)
    second = await create_service(settings, sweep_interval=0.05)
    async with (
        running_server(first, token_verifier) as (_, a),
        running_server(second, token_verifier) as (_, b),
    ):
        yield Stub(a), Stub(b)


async def _created(stub: Stub, callers: Callers) -> pb.Product:
    product = pb.Product(name="Kettle", price=usd(1999), quantity=10, tags=["tea"])
    request = pb.CreateProductRequest(product=product)
    created: pb.Product = (await stub.CreateProduct(request, metadata=callers.admin)).product
    return created


async def _get(stub: Stub, callers: Callers, product_id: str) -> pb.Product:
    request = pb.GetProductRequest(product_id=product_id)
    found: pb.Product = (await stub.GetProduct(request, metadata=callers.user)).product
    return found


async def _listed(stub: Stub, callers: Callers, product_id: str) -> pb.Product:
    request = pb.ListProductsRequest(filter=pb.ProductFilter(tags=["tea"]), page_size=50)
    reply = await stub.ListProducts(request, metadata=callers.user)
    found: pb.Product = next(p for p in reply.products if p.id == product_id)
    return found


async def _within_window(
    read: Callable[[], Awaitable[pb.Product]], shows: Callable[[pb.Product], bool]
) -> float:
    """Seconds from the change to the start of the first read that shows it; fails when a read
    that began past the window still does not (on a loaded machine a read itself can be slow)."""
    changed = time.monotonic()
    while True:
        began = time.monotonic()
        if shows(await read()):
            return began - changed
        assert began - changed < WINDOW_SECONDS, "the change did not show in time"
        await asyncio.sleep(0.01)


async def _warm(stub: Stub, callers: Callers, product_id: str) -> None:
    """Read until the reader is live and the product is served from the cache."""
    for _ in range(3):
        await _get(stub, callers, product_id)
        await _listed(stub, callers, product_id)
        await asyncio.sleep(0.05)


async def test_an_update_through_another_instance_shows_within_the_window(
    pair: tuple[Stub, Stub], callers: Callers
) -> None:
    a, b = pair
    product = await _created(b, callers)
    await _warm(a, callers, product.id)
    renamed = pb.Product(id=product.id, name="Teapot", discount_percentage=50)
    await b.UpdateProduct(
        pb.UpdateProductRequest(
            product=renamed, update_mask={"paths": ["name", "discount_percentage"]}
        ),
        metadata=callers.admin,
    )
    await _within_window(lambda: _get(a, callers, product.id), lambda p: p.name == "Teapot")
    listed = await _within_window(
        lambda: _listed(a, callers, product.id), lambda p: p.effective_price.minor_units == 1000
    )
    assert listed < WINDOW_SECONDS


async def test_a_reservation_on_one_instance_shows_on_the_other(
    pair: tuple[Stub, Stub], callers: Callers
) -> None:
    a, b = pair
    product = await _created(a, callers)
    await _warm(b, callers, product.id)
    await _warm(a, callers, product.id)
    reserve = pb.ReserveStockRequest(product_id=product.id, quantity=3, reservation_id="r-1")
    await a.ReserveStock(reserve, metadata=callers.service)
    # Read-your-writes on the instance that reserved: at once.
    assert (await _get(a, callers, product.id)).reserved == 3
    await _within_window(lambda: _get(b, callers, product.id), lambda p: p.reserved == 3)
    await _within_window(
        lambda: _listed(b, callers, product.id), lambda p: (p.quantity, p.reserved) == (7, 3)
    )


async def test_batched_holds_and_sales_show_at_once_on_their_instance(
    pair: tuple[Stub, Stub], callers: Callers
) -> None:
    a, _ = pair
    product = await _created(a, callers)
    await _warm(a, callers, product.id)
    entry = pb.ReserveStockRequest(product_id=product.id, quantity=2, reservation_id="rb-1")
    await a.BatchReserveStock(
        pb.BatchReserveStockRequest(entries=[entry]), metadata=callers.service
    )
    assert (await _get(a, callers, product.id)).reserved == 2
    # A commit that does not name its product is dropped by the product its answer names.
    commit = pb.CommitReservationRequest(reservation_id="rb-1")
    await a.BatchCommitReservations(
        pb.BatchCommitReservationsRequest(entries=[commit]), metadata=callers.service
    )
    sold = await _get(a, callers, product.id)
    assert (sold.quantity, sold.reserved) == (8, 0)


async def test_with_the_reader_down_reads_go_to_redis(
    pair: tuple[Stub, Stub], callers: Callers, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pair
    product = await _created(a, callers)
    await _warm(a, callers, product.id)
    redis = connect_redis(redis_url, "ESTORE_INVENTORY_REDIS_URL")
    try:
        # A change that emits no event: while the reader is live, the cache still serves the
        # old product (this is what shows the cache is in use)...
        key = store_keys.product(product.id)
        await redis.hset(key, mapping={"name": "Behind the cache's back", "rev": "99"})
        assert (await _get(a, callers, product.id)).name == "Kettle"

        # ...and once the reader fails, every read goes to Redis and is fresh.
        async def failing(self: EventLog, position: str, count: int) -> list[object]:
            raise RuntimeError("the reader broke")

        monkeypatch.setattr(EventLog, "wait_after", failing)
        fresh = await _within_window(
            lambda: _get(a, callers, product.id), lambda p: p.name == "Behind the cache's back"
        )
        assert fresh < WINDOW_SECONDS
        assert (await _listed(a, callers, product.id)).name == "Behind the cache's back"
    finally:
        await redis.aclose()


def _sync_client(redis_url: str, redis_kind: str) -> SyncRedis | SyncRedisCluster:
    if redis_kind == "cluster":
        first_node = redis_url.removeprefix("redis+cluster://").split(",")[0]
        return SyncRedisCluster.from_url(f"redis://{first_node}")
    return SyncRedis.from_url(redis_url)


def _restored(product: pb.Product) -> bool:
    return product.name == "Restored"


async def test_a_restore_empties_every_cache(
    pair: tuple[Stub, Stub], callers: Callers, redis_url: str, redis_kind: str
) -> None:
    a, b = pair
    product = await _created(a, callers)
    await _warm(a, callers, product.id)
    await _warm(b, callers, product.id)
    # A restore rewrites products with no event of theirs (DUMP / RESTORE), then announces it.
    client = _sync_client(redis_url, redis_kind)
    try:
        key = store_keys.product(product.id)
        client.hset(key, mapping={"name": "Restored", "rev": "99"})
        assert (await _get(a, callers, product.id)).name == "Kettle"
        announce_restore(client)
    finally:
        client.close()
    await _within_window(lambda: _get(a, callers, product.id), _restored)
    await _within_window(lambda: _get(b, callers, product.id), _restored)
    assert (await _listed(a, callers, product.id)).name == "Restored"
    assert (await _listed(b, callers, product.id)).name == "Restored"


async def _listed_ids(stub: Stub, callers: Callers, *, in_stock: bool = False) -> list[str]:
    query = pb.ProductFilter(tags=["tea"], in_stock=in_stock)
    reply = await stub.ListProducts(
        pb.ListProductsRequest(filter=query, page_size=50), metadata=callers.user
    )
    return [p.id for p in reply.products]


async def test_listings_follow_products_created_and_sold_out_elsewhere(
    pair: tuple[Stub, Stub], callers: Callers
) -> None:
    a, b = pair
    first = await _created(a, callers)
    for _ in range(3):  # the pages are now kept on both instances
        assert await _listed_ids(a, callers) == [first.id]
        assert await _listed_ids(b, callers, in_stock=True) == [first.id]
        await asyncio.sleep(0.05)
    second = await _created(b, callers)
    assert await _listed_ids(b, callers) == [first.id, second.id]  # its own write: at once
    started = time.monotonic()
    while await _listed_ids(a, callers) != [first.id, second.id]:
        assert time.monotonic() - started < WINDOW_SECONDS, "the new product did not show"
        await asyncio.sleep(0.01)
    # Every unit of the first product reserved through A: it leaves B's in-stock listing.
    reserve = pb.ReserveStockRequest(product_id=first.id, quantity=10, reservation_id="r-all")
    await a.ReserveStock(reserve, metadata=callers.service)
    assert await _listed_ids(a, callers, in_stock=True) == [second.id]
    started = time.monotonic()
    while await _listed_ids(b, callers, in_stock=True) != [second.id]:
        assert time.monotonic() - started < WINDOW_SECONDS, "the sold-out product stayed"
        await asyncio.sleep(0.01)

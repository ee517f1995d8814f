"""Stock over gRPC: adjustments, reservations, their idempotency, expiry, and concurrency."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.protobuf import duration_pb2

from estore.common.idempotency import fingerprint
from estore.common.redis import connect_redis
from estore.inventory import store_keys
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error

FAILED = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def _get(stub, product_id: str) -> pb.Product:
    product: pb.Product = (
        await stub.GetProduct(pb.GetProductRequest(product_id=product_id))
    ).product
    return product


def _reserve(stub, callers, product_id: str, quantity: int = 1, reservation_id: str = "", **kw):
    request = pb.ReserveStockRequest(
        product_id=product_id, quantity=quantity, reservation_id=reservation_id, **kw
    )
    return stub.ReserveStock(request, metadata=callers.service)


async def test_adjust_stock_adds_and_removes(stub, callers, make_product) -> None:
    created = await make_product(quantity=5, min_stock_level=3)
    added = await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=created.id, delta=4, reason="restock"),
        metadata=callers.admin,
    )
    assert added.product.quantity == 9
    removed = await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=created.id, delta=-9, reason="damaged"),
        metadata=callers.admin,
    )
    assert removed.product.quantity == 0
    analytics = await stub.GetProductAnalytics(
        pb.GetProductAnalyticsRequest(product_id=created.id), metadata=callers.admin
    )
    assert analytics.analytics.stock_updates == 2
    assert analytics.analytics.last_stock_update.seconds > 0


async def test_adjust_stock_never_goes_below_zero(stub, callers, make_product) -> None:
    created = await make_product(quantity=2)
    details = await expect_error(
        stub.AdjustStock(
            pb.AdjustStockRequest(product_id=created.id, delta=-3), metadata=callers.admin
        ),
        FAILED,
        "INSUFFICIENT_STOCK",
    )
    assert details.infos[0].metadata["available"] == "2"
    assert (await _get(stub, created.id)).quantity == 2


async def test_adjust_stock_errors(stub, callers, make_product) -> None:
    created = await make_product(quantity=2)
    details = await expect_error(
        stub.AdjustStock(
            pb.AdjustStockRequest(product_id=created.id, delta=0), metadata=callers.admin
        ),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"delta"}
    await expect_error(
        stub.AdjustStock(pb.AdjustStockRequest(product_id="nope", delta=1), metadata=callers.admin),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )


async def test_adjust_stock_request_id_replays_the_first_answer(
    stub, callers, make_product
) -> None:
    created = await make_product(quantity=1)
    request = pb.AdjustStockRequest(product_id=created.id, delta=5, request_id="restock-42")
    first = await stub.AdjustStock(request, metadata=callers.admin)
    await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=created.id, delta=1), metadata=callers.admin
    )
    again = await stub.AdjustStock(request, metadata=callers.admin)
    assert again.product == first.product  # the first response, not today's quantity
    assert (await _get(stub, created.id)).quantity == 7  # applied once: 1 + 5 + 1
    other = pb.AdjustStockRequest(product_id=created.id, delta=6, request_id="restock-42")
    details = await expect_error(
        stub.AdjustStock(other, metadata=callers.admin), INVALID, "REQUEST_ID_REUSED"
    )
    assert details.violated_fields == {"request_id"}


async def test_adjust_stock_failure_is_remembered_for_its_request_id(
    stub, callers, make_product
) -> None:
    created = await make_product(quantity=1)
    request = pb.AdjustStockRequest(product_id=created.id, delta=-2, request_id="r-1")
    await expect_error(
        stub.AdjustStock(request, metadata=callers.admin), FAILED, "INSUFFICIENT_STOCK"
    )
    await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=created.id, delta=5), metadata=callers.admin
    )
    await expect_error(
        stub.AdjustStock(request, metadata=callers.admin), FAILED, "INSUFFICIENT_STOCK"
    )


async def test_request_still_in_flight_is_aborted(stub, callers, make_product, redis_url) -> None:
    created = await make_product(quantity=1)
    request = pb.AdjustStockRequest(product_id=created.id, delta=1, reason="", request_id="busy")
    async with connect_redis(
        redis_url, "test"
    ) as redis:  # another instance is running this request
        await redis.hset(
            f"{store_keys.IDEMPOTENCY_PREFIX}:adjust_stock:busy",
            mapping={"fingerprint": fingerprint(created.id, 1, ""), "state": "running"},
        )
    await expect_error(
        stub.AdjustStock(request, metadata=callers.admin),
        grpc.StatusCode.ABORTED,
        "REQUEST_IN_PROGRESS",
    )


async def test_reserve_holds_stock_at_the_effective_price(stub, callers, make_product) -> None:
    created = await make_product(price=1999, quantity=5, discount_percentage=15)
    started = time.time()
    reply = await _reserve(stub, callers, created.id, 2, "order-1")
    reservation = reply.reservation
    assert (reservation.id, reservation.product_id, reservation.quantity) == (
        "order-1",
        created.id,
        2,
    )
    assert reservation.unit_price.minor_units == 1699
    assert reservation.state == pb.RESERVATION_STATE_HELD
    assert abs(reservation.expires_at.seconds - (started + 900)) < 5  # the default TTL
    product = await _get(stub, created.id)
    assert (product.quantity, product.reserved) == (3, 2)
    generated = (await _reserve(stub, callers, created.id, 1)).reservation
    assert generated.id
    assert generated.id != "order-1"


async def test_reserve_errors(stub, callers, make_product) -> None:
    created = await make_product(quantity=2)
    await expect_error(_reserve(stub, callers, created.id, 3), FAILED, "INSUFFICIENT_STOCK")
    await expect_error(_reserve(stub, callers, "nope", 1), NOT_FOUND, "PRODUCT_NOT_FOUND")
    for request, field in (
        (pb.ReserveStockRequest(product_id=created.id, quantity=0), "quantity"),
        (pb.ReserveStockRequest(product_id=created.id, quantity=10_001), "quantity"),
        (
            pb.ReserveStockRequest(product_id=created.id, quantity=1, reservation_id="a b"),
            "reservation_id",
        ),
        (
            pb.ReserveStockRequest(
                product_id=created.id, quantity=1, ttl=duration_pb2.Duration(nanos=500_000_000)
            ),
            "ttl",
        ),
        (
            pb.ReserveStockRequest(
                product_id=created.id, quantity=1, ttl=duration_pb2.Duration(seconds=86_401)
            ),
            "ttl",
        ),
    ):
        details = await expect_error(
            stub.ReserveStock(request, metadata=callers.service), INVALID, "INVALID_FIELD"
        )
        assert details.violated_fields == {field}


async def test_reservation_id_is_idempotent_and_checked(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    first = (await _reserve(stub, callers, created.id, 2, "order-7")).reservation
    again = (await _reserve(stub, callers, created.id, 2, "order-7")).reservation
    assert again == first
    assert (await _get(stub, created.id)).quantity == 3
    await expect_error(
        _reserve(stub, callers, created.id, 3, "order-7"), INVALID, "REQUEST_ID_REUSED"
    )
    other = await make_product(quantity=5)
    await expect_error(
        _reserve(stub, callers, other.id, 2, "order-7"), INVALID, "REQUEST_ID_REUSED"
    )


async def test_200_concurrent_reservations_against_50_units(stub, callers, make_product) -> None:
    created = await make_product(quantity=50)
    results = await asyncio.gather(
        *(_reserve(stub, callers, created.id, 1) for _ in range(200)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, pb.ReserveStockResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 50
    assert len(lost) == 150
    assert {e.code() for e in lost} == {FAILED}
    product = await _get(stub, created.id)
    assert (product.quantity, product.reserved) == (0, 50)


async def test_same_reservation_id_20_times_at_once_holds_once(stub, callers, make_product) -> None:
    created = await make_product(quantity=10)
    replies = await asyncio.gather(
        *(_reserve(stub, callers, created.id, 3, "order-dup") for _ in range(20))
    )
    assert len({r.reservation.SerializeToString() for r in replies}) == 1
    product = await _get(stub, created.id)
    assert (product.quantity, product.reserved) == (7, 3)


async def test_commit_is_idempotent_and_sells_the_units(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    await _reserve(stub, callers, created.id, 2, "order-1")
    for _ in range(2):
        reply = await stub.CommitReservation(
            pb.CommitReservationRequest(reservation_id="order-1"), metadata=callers.service
        )
        assert reply.reservation.state == pb.RESERVATION_STATE_COMMITTED
    product = await _get(stub, created.id)
    assert (product.quantity, product.reserved) == (3, 0)
    await expect_error(
        stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id="order-1"), metadata=callers.service
        ),
        FAILED,
        "RESERVATION_COMMITTED",
    )


async def test_release_is_idempotent_and_returns_the_units(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    await _reserve(stub, callers, created.id, 2, "order-1")
    for _ in range(2):
        reply = await stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id="order-1"), metadata=callers.service
        )
        assert reply.reservation.state == pb.RESERVATION_STATE_RELEASED
    assert (await _get(stub, created.id)).quantity == 5
    await expect_error(
        stub.CommitReservation(
            pb.CommitReservationRequest(reservation_id="order-1"), metadata=callers.service
        ),
        FAILED,
        "RESERVATION_RELEASED",
    )


@pytest.mark.parametrize("rpc", ["CommitReservation", "ReleaseReservation"])
async def test_unknown_reservation_is_not_found(stub, callers, rpc) -> None:
    request_type = getattr(pb, f"{rpc}Request")
    await expect_error(
        getattr(stub, rpc)(request_type(reservation_id="nope"), metadata=callers.service),
        NOT_FOUND,
        "RESERVATION_NOT_FOUND",
    )


async def test_expired_reservation_gives_its_stock_back(stub, callers, make_product) -> None:
    created = await make_product(quantity=4)
    ttl = duration_pb2.Duration(seconds=1)
    await _reserve(stub, callers, created.id, 3, "order-late", ttl=ttl)
    assert (await _get(stub, created.id)).quantity == 1
    await asyncio.sleep(1.3)  # the server's sweeper runs every 50 ms
    product = await _get(stub, created.id)
    assert (product.quantity, product.reserved) == (4, 0)
    await expect_error(
        stub.CommitReservation(
            pb.CommitReservationRequest(reservation_id="order-late"), metadata=callers.service
        ),
        FAILED,
        "RESERVATION_EXPIRED",
    )
    released = await stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id="order-late"), metadata=callers.service
    )
    assert released.reservation.state == pb.RESERVATION_STATE_EXPIRED
    assert (await _get(stub, created.id)).quantity == 4

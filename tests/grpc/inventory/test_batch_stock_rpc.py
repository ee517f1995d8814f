"""BatchReserveStock, BatchCommitReservations and BatchReleaseReservations: each entry answered
as its single call would be, and one entry's failure leaves the others alone."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from redis.asyncio import Redis

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _entry_error(status: status_pb2.Status) -> tuple[int, str, set[str]]:
    """An entry's status code, ErrorInfo reason and the fields its BadRequest names."""
    reason, fields = "", set()
    for detail in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
            assert info.domain == "estore.inventory"
        elif detail.Unpack(bad_request):
            fields |= {v.field for v in bad_request.field_violations}
    return status.code, reason, fields


async def _stock(stub, product_id: str) -> tuple[int, int]:
    product = (await stub.GetProduct(pb.GetProductRequest(product_id=product_id))).product
    return product.quantity, product.reserved


def _hold(product_id: str, quantity: int, reservation_id: str) -> pb.ReserveStockRequest:
    return pb.ReserveStockRequest(
        product_id=product_id, quantity=quantity, reservation_id=reservation_id
    )


async def test_each_entry_is_held_or_refused_on_its_own(stub, callers, make_product) -> None:
    first, second = await make_product(quantity=5), await make_product(quantity=1)
    entries = [
        _hold(first.id, 2, "order-1"),
        _hold(second.id, 3, "order-2"),  # more than there is
        _hold("no-such-product", 1, "order-3"),
        _hold(first.id, 0, "order-4"),  # malformed
        _hold(second.id, 1, "order-5"),
    ]
    request = pb.BatchReserveStockRequest(entries=entries)
    reply = await stub.BatchReserveStock(request, metadata=callers.service)
    results = list(reply.results)
    assert [r.WhichOneof("result") for r in results] == [
        "reservation", "error", "error", "error", "reservation"
    ]  # fmt: skip
    assert (results[0].reservation.id, results[0].reservation.quantity) == ("order-1", 2)
    assert results[0].reservation.state == pb.RESERVATION_STATE_HELD
    assert _entry_error(results[1].error)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        "INSUFFICIENT_STOCK",
    )
    assert _entry_error(results[2].error)[:2] == (
        grpc.StatusCode.NOT_FOUND.value[0],
        "PRODUCT_NOT_FOUND",
    )
    assert _entry_error(results[3].error) == (
        INVALID.value[0],
        "INVALID_FIELD",
        {"entries[3].quantity"},
    )
    assert await _stock(stub, first.id) == (3, 2)
    assert await _stock(stub, second.id) == (0, 1)
    again = await stub.BatchReserveStock(request, metadata=callers.service)  # idempotent
    assert again.results[0].reservation == results[0].reservation
    assert await _stock(stub, first.id) == (3, 2)


async def test_commits_and_releases_answer_per_entry(stub, callers, make_product) -> None:
    product = await make_product(quantity=10)
    holds = [_hold(product.id, 1, f"order-{n}") for n in range(3)]
    await stub.BatchReserveStock(
        pb.BatchReserveStockRequest(entries=holds), metadata=callers.service
    )
    commits = pb.BatchCommitReservationsRequest(
        entries=[
            pb.CommitReservationRequest(reservation_id="order-0", product_id=product.id),
            pb.CommitReservationRequest(reservation_id="order-1"),
            pb.CommitReservationRequest(reservation_id="never-held"),
        ]
    )
    reply = await stub.BatchCommitReservations(commits, metadata=callers.service)
    assert [r.reservation.state for r in reply.results[:2]] == [pb.RESERVATION_STATE_COMMITTED] * 2
    assert _entry_error(reply.results[2].error)[1] == "RESERVATION_NOT_FOUND"
    releases = pb.BatchReleaseReservationsRequest(
        entries=[
            pb.ReleaseReservationRequest(reservation_id="order-0", product_id=product.id),
            pb.ReleaseReservationRequest(reservation_id="order-2", product_id=product.id),
        ]
    )
    reply = await stub.BatchReleaseReservations(releases, metadata=callers.service)
    assert _entry_error(reply.results[0].error)[1] == "RESERVATION_COMMITTED"
    assert reply.results[1].reservation.state == pb.RESERVATION_STATE_RELEASED
    assert await _stock(stub, product.id) == (8, 0)


@pytest.mark.parametrize("count", [0, 101])
async def test_an_empty_or_oversized_batch_is_invalid(stub, callers, count) -> None:
    request = pb.BatchCommitReservationsRequest(
        entries=[pb.CommitReservationRequest(reservation_id=f"r-{n}") for n in range(count)]
    )
    details = await expect_error(
        stub.BatchCommitReservations(request, metadata=callers.service), INVALID, "INVALID_FIELD"
    )
    assert details.violated_fields == {"entries"}


@pytest.mark.parametrize(
    ("who", "code", "reason"),
    [
        ("anonymous", grpc.StatusCode.UNAUTHENTICATED, "AUTH_TOKEN_MISSING"),
        ("user", grpc.StatusCode.PERMISSION_DENIED, "SERVICE_ROLE_REQUIRED"),
    ],
)
async def test_only_services_and_admins_may_batch(
    stub, callers, make_product, who, code, reason
) -> None:
    product = await make_product(quantity=5)
    request = pb.BatchReserveStockRequest(entries=[_hold(product.id, 1, "order-1")])
    await expect_error(
        stub.BatchReserveStock(request, metadata=getattr(callers, who)), code, reason
    )
    assert await _stock(stub, product.id) == (5, 0)
    reply = await stub.BatchReserveStock(request, metadata=callers.admin)
    assert reply.results[0].reservation.state == pb.RESERVATION_STATE_HELD


@pytest.mark.single_redis  # counts one server's commands
async def test_a_batch_runs_one_script_and_a_request_id_entry_goes_alone(
    stub, callers, make_product, redis_url
) -> None:
    product = await make_product(quantity=10)
    entries = [_hold(product.id, 1, f"order-{n}") for n in range(3)]
    entries.append(pb.ReserveStockRequest(product_id=product.id, quantity=2, request_id="rq-1"))
    request = pb.BatchReserveStockRequest(entries=entries)
    await stub.BatchReserveStock(request, metadata=callers.service)  # loads the scripts
    await stub.BatchCommitReservations(
        pb.BatchCommitReservationsRequest(
            entries=[
                pb.CommitReservationRequest(reservation_id=f"order-{n}", product_id=product.id)
                for n in range(3)
            ]
        ),
        metadata=callers.service,
    )
    async with Redis.from_url(redis_url) as redis:
        before = await redis.info("commandstats")
        again = await stub.BatchReserveStock(request, metadata=callers.service)
        after = await redis.info("commandstats")
    calls = after["cmdstat_evalsha"]["calls"] - before["cmdstat_evalsha"]["calls"]
    # The three holds in one script (their product's bucket; their ids claimed by SET NX);
    # the request id's claim in its own.
    assert calls == 2
    assert [r.reservation.state for r in again.results] == [pb.RESERVATION_STATE_COMMITTED] * 3 + [
        pb.RESERVATION_STATE_HELD
    ]
    assert await _stock(stub, product.id) == (5, 2)

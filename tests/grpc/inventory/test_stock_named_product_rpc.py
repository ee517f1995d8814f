"""CommitReservation and ReleaseReservation naming the reservation's product (product_id)."""

from __future__ import annotations

import grpc
import pytest

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def _stock(stub, product_id: str) -> tuple[int, int]:
    product = (await stub.GetProduct(pb.GetProductRequest(product_id=product_id))).product
    return product.quantity, product.reserved


async def _hold(stub, callers, product_id: str, quantity: int, reservation_id: str) -> None:
    request = pb.ReserveStockRequest(
        product_id=product_id, quantity=quantity, reservation_id=reservation_id
    )
    await stub.ReserveStock(request, metadata=callers.service)


async def test_commit_naming_its_product_sells_the_units(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    await _hold(stub, callers, created.id, 2, "order-1")
    request = pb.CommitReservationRequest(reservation_id="order-1", product_id=created.id)
    for _ in range(2):
        reply = await stub.CommitReservation(request, metadata=callers.service)
        assert reply.reservation.state == pb.RESERVATION_STATE_COMMITTED
        assert (reply.reservation.product_id, reply.reservation.quantity) == (created.id, 2)
    assert await _stock(stub, created.id) == (3, 0)


async def test_release_naming_its_product_returns_the_units(stub, callers, make_product) -> None:
    created = await make_product(quantity=5)
    await _hold(stub, callers, created.id, 2, "order-1")
    request = pb.ReleaseReservationRequest(reservation_id="order-1", product_id=created.id)
    for _ in range(2):
        reply = await stub.ReleaseReservation(request, metadata=callers.service)
        assert reply.reservation.state == pb.RESERVATION_STATE_RELEASED
    assert await _stock(stub, created.id) == (5, 0)


@pytest.mark.parametrize("rpc", ["CommitReservation", "ReleaseReservation"])
async def test_another_product_is_refused_and_changes_nothing(
    stub, callers, make_product, rpc
) -> None:
    held = await make_product(quantity=5)
    other = await make_product(quantity=7)
    await _hold(stub, callers, held.id, 2, "order-1")
    request = getattr(pb, f"{rpc}Request")(reservation_id="order-1", product_id=other.id)
    details = await expect_error(
        getattr(stub, rpc)(request, metadata=callers.service), INVALID, "INVALID_FIELD"
    )
    assert details.violated_fields == {"product_id"}
    assert await _stock(stub, held.id) == (3, 2)
    assert await _stock(stub, other.id) == (7, 0)


@pytest.mark.parametrize("rpc", ["CommitReservation", "ReleaseReservation"])
async def test_a_malformed_product_id_is_invalid(stub, callers, rpc) -> None:
    request = getattr(pb, f"{rpc}Request")(reservation_id="order-1", product_id="no spaces")
    details = await expect_error(
        getattr(stub, rpc)(request, metadata=callers.service), INVALID, "INVALID_FIELD"
    )
    assert details.violated_fields == {"product_id"}

"""Payments' Inventory client over the batch RPCs: concurrent calls share one RPC, and each
caller gets the answer (or the error) its single call would have had."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from estore.common import context
from estore.common.errors import FailedPrecondition, InvalidArgument
from estore.common.server import GrpcServer
from estore.common.status import to_status_proto
from estore.payments.errors import InsufficientStock, InventoryUnavailable, ReservationLost
from estore.payments.inventory_client import InventoryClient, Reservation
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from tests.grpc.payments.conftest import fake_inventory

DOMAIN = "estore.inventory"


def _held(request: Any, state: Any = pb.RESERVATION_STATE_HELD) -> pb.Reservation:
    return pb.Reservation(
        id=request.reservation_id, product_id=request.product_id or "p1", quantity=1,
        unit_price=money_pb2.Money(currency_code="USD", minor_units=500), state=state,
    )  # fmt: skip


class BatchingInventory(inv_grpc.InventoryServiceServicer):
    """Batch RPCs for reserve and commit (and a single ReserveStock); an entry's product id
    picks its answer, and every call is recorded."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str], str]] = []  # method, reservation ids, request id

    def _record(self, method: str, request: Any, ctx: Any) -> None:
        metadata = dict(ctx.invocation_metadata())
        ids = [entry.reservation_id for entry in request.entries]
        self.batches.append((method, ids, metadata.get("x-request-id", "")))

    async def ReserveStock(self, request: Any, ctx: Any) -> pb.ReserveStockResponse:
        self.batches.append(("single reserve", [request.reservation_id], ""))
        return pb.ReserveStockResponse(reservation=_held(request))

    async def BatchReserveStock(self, request: Any, ctx: Any) -> pb.BatchReserveStockResponse:
        self._record("reserve", request, ctx)
        results = []
        for i, entry in enumerate(request.entries):
            if entry.product_id == "sold-out":
                refused = FailedPrecondition("no", reason="INSUFFICIENT_STOCK")
                results.append(pb.BatchReservationResult(error=to_status_proto(refused, DOMAIN)))
            elif entry.product_id == "bad":
                invalid = InvalidArgument.field(f"entries[{i}].quantity", "at most 10000")
                results.append(pb.BatchReservationResult(error=to_status_proto(invalid, DOMAIN)))
            else:
                results.append(pb.BatchReservationResult(reservation=_held(entry)))
        return pb.BatchReserveStockResponse(results=results)

    async def BatchCommitReservations(
        self, request: Any, ctx: Any
    ) -> pb.BatchCommitReservationsResponse:
        self._record("commit", request, ctx)
        results = []
        for entry in request.entries:
            if entry.reservation_id == "lapsed":
                error = FailedPrecondition("expired", reason="RESERVATION_EXPIRED")
                results.append(pb.BatchReservationResult(error=to_status_proto(error, DOMAIN)))
            else:
                sold = _held(entry, pb.RESERVATION_STATE_COMMITTED)
                results.append(pb.BatchReservationResult(reservation=sold))
        return pb.BatchCommitReservationsResponse(results=results)


@pytest.fixture
async def client(token_verifier, token_issuer) -> AsyncIterator[tuple[BatchingInventory, Any]]:
    servicer = BatchingInventory()
    definition = fake_inventory(servicer)
    server = GrpcServer(definition, token_verifier)
    port = await server.start()
    token = token_issuer.mint_service_token("payments", ttl_seconds=60).token
    inventory = InventoryClient.connect(f"127.0.0.1:{port}", token, deadline_cap_seconds=5)
    yield servicer, inventory
    await inventory.close()
    await server.stop(grace=0)


async def test_concurrent_reserves_share_one_rpc_and_keep_their_own_errors(client) -> None:
    servicer, inventory = client
    context.request_id.set("basket-7")
    outcomes = await asyncio.gather(
        inventory.reserve("p1", 1, "line-0", 900),
        inventory.reserve("sold-out", 1, "line-1", 900),
        inventory.reserve("bad", 1, "line-2", 900),
        return_exceptions=True,
    )
    assert servicer.batches == [("reserve", ["line-0", "line-1", "line-2"], "basket-7")]
    assert isinstance(outcomes[0], Reservation)
    assert outcomes[0].id == "line-0"
    assert outcomes[0].unit_price_minor == 500
    assert isinstance(outcomes[1], InsufficientStock)
    assert isinstance(outcomes[2], InvalidArgument)  # named as the single call names it
    assert [v.field for v in outcomes[2].violations] == ["quantity"]


async def test_a_lapsed_hold_fails_only_its_own_commit(client) -> None:
    servicer, inventory = client
    outcomes = await asyncio.gather(
        inventory.commit("order-1", "p1"), inventory.commit("lapsed"), return_exceptions=True
    )
    assert isinstance(outcomes[0], Reservation)
    assert outcomes[0].state == "COMMITTED"
    assert isinstance(outcomes[1], ReservationLost)
    assert outcomes[1].reason == "RESERVATION_EXPIRED"
    assert [ids for _, ids, _ in servicer.batches] == [["order-1", "lapsed"]]


async def test_an_inventory_without_batch_rpcs_gets_single_calls(client) -> None:
    servicer, inventory = client  # no BatchReleaseReservations (nor ReleaseReservation) here
    with pytest.raises(InventoryUnavailable):  # the single call tried next is unknown too
        await inventory.release("order-1", "p1")
    reservation = await inventory.reserve("p1", 1, "order-2", 900)  # batching stays off
    assert reservation.id == "order-2"
    assert servicer.batches == [("single reserve", ["order-2"], "")]

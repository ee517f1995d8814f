"""WatchInventory: a server stream of inventory events that resumes after a given event id."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error

STOCK = pb.INVENTORY_EVENT_TYPE_STOCK_CHANGED
LOW = pb.INVENTORY_EVENT_TYPE_LOW_STOCK
CREATED = pb.INVENTORY_EVENT_TYPE_PRODUCT_CREATED
UPDATED = pb.INVENTORY_EVENT_TYPE_PRODUCT_UPDATED
DELETED = pb.INVENTORY_EVENT_TYPE_PRODUCT_DELETED


async def _read(call, count: int) -> list[pb.InventoryEvent]:
    events = []
    for _ in range(count):
        reply = await asyncio.wait_for(call.read(), timeout=5)
        events.append(reply.event)
    return events


async def _adjust(stub, callers, product_id: str, delta: int, reason: str = "") -> None:
    await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=product_id, delta=delta, reason=reason),
        metadata=callers.admin,
    )


async def test_resume_after_an_event_id_delivers_exactly_what_followed(
    stub, callers, make_product
) -> None:
    product = await make_product(quantity=5, min_stock_level=2)  # CREATED
    await _adjust(stub, callers, product.id, -1, "a")  # STOCK 4
    await _adjust(stub, callers, product.id, -2, "b")  # STOCK 2, LOW
    await _adjust(stub, callers, product.id, 3, "c")  # STOCK 5
    everything = stub.WatchInventory(
        pb.WatchInventoryRequest(after_event_id="0-0"), metadata=callers.admin
    )
    history = await _read(everything, 5)
    everything.cancel()
    assert [e.type for e in history] == [CREATED, STOCK, STOCK, LOW, STOCK]
    assert [(e.quantity, e.delta, e.reason) for e in history[1:]] == [
        (4, -1, "a"),
        (2, -2, "b"),
        (2, 0, "b"),
        (5, 3, "c"),
    ]
    resumed = stub.WatchInventory(
        pb.WatchInventoryRequest(after_event_id=history[1].id), metadata=callers.service
    )
    assert await _read(resumed, 3) == history[2:]
    await _adjust(stub, callers, product.id, 1, "d")
    (latest,) = await _read(resumed, 1)  # nothing else came in between
    assert (latest.type, latest.quantity, latest.reason) == (STOCK, 6, "d")
    assert latest.id > history[-1].id
    resumed.cancel()


async def test_empty_after_event_id_means_from_now(stub, callers, make_product) -> None:
    product = await make_product(quantity=5)
    await _adjust(stub, callers, product.id, 1, "before")
    call = stub.WatchInventory(pb.WatchInventoryRequest(), metadata=callers.admin)
    await asyncio.sleep(0.2)  # let the stream start before the next change
    await _adjust(stub, callers, product.id, 1, "after")
    (event,) = await _read(call, 1)
    assert event.reason == "after"
    call.cancel()


async def test_filters_by_product_and_low_stock(stub, callers, make_product) -> None:
    watched = await make_product("Watched", quantity=3, min_stock_level=1)
    other = await make_product("Other", quantity=3, min_stock_level=1)
    start = stub.WatchInventory(
        pb.WatchInventoryRequest(after_event_id="0-0"), metadata=callers.admin
    )
    start_id = (await _read(start, 2))[-1].id
    start.cancel()
    only_watched = stub.WatchInventory(
        pb.WatchInventoryRequest(product_ids=[watched.id], after_event_id=start_id),
        metadata=callers.admin,
    )
    only_low = stub.WatchInventory(
        pb.WatchInventoryRequest(low_stock_only=True, after_event_id=start_id),
        metadata=callers.admin,
    )
    await _adjust(stub, callers, other.id, -2, "other low")
    await _adjust(stub, callers, watched.id, -1, "watched")
    await _adjust(stub, callers, watched.id, -1, "watched low")
    assert [e.reason for e in await _read(only_watched, 3)] == [
        "watched",
        "watched low",
        "watched low",
    ]
    low = await _read(only_low, 2)
    assert [(e.product_id, e.type) for e in low] == [(other.id, LOW), (watched.id, LOW)]
    only_watched.cancel()
    only_low.cancel()


async def test_product_changes_and_reservations_are_events(stub, callers, make_product) -> None:
    product = await make_product(quantity=3)
    call = stub.WatchInventory(
        pb.WatchInventoryRequest(after_event_id="0-0"), metadata=callers.service
    )
    await stub.ReserveStock(
        pb.ReserveStockRequest(product_id=product.id, quantity=2, reservation_id="r1"),
        metadata=callers.service,
    )
    await stub.CommitReservation(
        pb.CommitReservationRequest(reservation_id="r1"), metadata=callers.service
    )
    await stub.UpdateProduct(
        pb.UpdateProductRequest(
            product=pb.Product(id=product.id, name="Renamed"), update_mask={"paths": ["name"]}
        ),
        metadata=callers.admin,
    )
    await _adjust(stub, callers, product.id, -1)
    await stub.DeleteProduct(pb.DeleteProductRequest(product_id=product.id), metadata=callers.admin)
    events = await _read(call, 7)
    call.cancel()
    assert [(e.type, e.reason, e.quantity, e.reserved) for e in events] == [
        (CREATED, "", 3, 0),
        (STOCK, "reserve", 1, 2),
        (STOCK, "commit", 1, 0),
        (UPDATED, "", 1, 0),
        (STOCK, "", 0, 0),
        (LOW, "", 0, 0),
        (DELETED, "", 0, 0),
    ]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.WatchInventoryRequest(after_event_id="yesterday"), "after_event_id"),
        (pb.WatchInventoryRequest(product_ids=[f"p{i}" for i in range(101)]), "product_ids"),
        (pb.WatchInventoryRequest(product_ids=["p1", "p2:x"]), "product_ids"),
        # Within the pattern, but beyond the unsigned 64 bits Redis accepts in a stream id.
        (pb.WatchInventoryRequest(after_event_id="99999999999999999999"), "after_event_id"),
        (pb.WatchInventoryRequest(after_event_id="1-18446744073709551616"), "after_event_id"),
        (pb.WatchInventoryRequest(after_event_id="\u0661-0"), "after_event_id"),  # Arabic 1
    ],
)
async def test_bad_watch_requests_are_invalid(stub, callers, request_, field) -> None:
    call = stub.WatchInventory(request_, metadata=callers.admin)
    first = asyncio.wait_for(call.read(), timeout=5)  # a request taken as valid waits for events
    details = await expect_error(first, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD")
    assert details.violated_fields == {field}

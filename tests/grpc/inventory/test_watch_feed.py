"""WatchInventory's shared feed: a resume from a trimmed event is told so; every watcher gets
every event once, in order, whether it joined early, late, or reads slowly."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from estore.common.redis import connect_redis
from estore.inventory import store_keys, task_event_feed
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error


async def _read(call, count: int, pause: float = 0.0) -> list[pb.InventoryEvent]:
    events = []
    for _ in range(count):
        reply = await asyncio.wait_for(call.read(), timeout=10)
        assert reply is not grpc.aio.EOF
        events.append(reply.event)
        await asyncio.sleep(pause)
    return events


async def _adjust(stub, callers, product_id: str, reason: str) -> None:
    await stub.AdjustStock(
        pb.AdjustStockRequest(product_id=product_id, delta=-1, reason=reason),
        metadata=callers.admin,
    )


async def test_resuming_from_a_trimmed_event_is_told_so(
    stub, callers, make_product, redis_url: str
) -> None:
    product = await make_product(quantity=10)
    for n in range(5):
        await _adjust(stub, callers, product.id, f"a{n}")
    watch = pb.WatchInventoryRequest
    history = stub.WatchInventory(watch(after_event_id="0-0"), metadata=callers.admin)
    ids = [event.id for event in await _read(history, 6)]
    history.cancel()
    # The stream drops its oldest events (as XADD MAXLEN does past 10,000): two stay.
    async with connect_redis(redis_url, "test") as redis:
        await redis.xtrim(store_keys.EVENTS, maxlen=2, approximate=False)

    trimmed = stub.WatchInventory(watch(after_event_id=ids[0]), metadata=callers.service)
    details = await expect_error(trimmed.read(), grpc.StatusCode.OUT_OF_RANGE, "EVENTS_TRIMMED")
    assert details.infos[0].metadata["oldest_event_id"] == ids[4]
    assert details.infos[0].metadata["after_event_id"] == ids[0]

    # "0-0" asks for everything kept, and an id still kept resumes: no gap signal.
    kept = stub.WatchInventory(watch(after_event_id="0-0"), metadata=callers.admin)
    assert [e.id for e in await _read(kept, 2)] == ids[4:]
    resumed = stub.WatchInventory(watch(after_event_id=ids[4]), metadata=callers.admin)
    assert [e.id for e in await _read(resumed, 1)] == ids[5:]
    await _adjust(stub, callers, product.id, "after the trim")
    for call in (kept, resumed):
        (latest,) = await _read(call, 1)
        assert latest.reason == "after the trim"
        call.cancel()


async def test_every_watcher_gets_every_event_once_in_order(
    stub, callers, make_product, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small buffers and pages, so that catching up, paging and overflowing all happen here.
    monkeypatch.setattr(task_event_feed, "WATCHER_BUFFER", 2)
    monkeypatch.setattr(task_event_feed, "PAGE_SIZE", 5)
    product = await make_product(quantity=1000)
    first = stub.WatchInventory(
        pb.WatchInventoryRequest(after_event_id="0-0"), metadata=callers.admin
    )
    (created,) = await _read(first, 1)
    first.cancel()
    count = 60
    reasons = [f"e{n}" for n in range(count)]

    def watch() -> grpc.aio.UnaryStreamCall:
        request = pb.WatchInventoryRequest(after_event_id=created.id)
        return stub.WatchInventory(request, metadata=callers.service)

    early = [watch() for _ in range(5)]

    async def produce() -> None:
        for n, reason in enumerate(reasons):
            await _adjust(stub, callers, product.id, reason)
            if n == count // 2:
                late.set()

    late = asyncio.Event()
    producing = asyncio.create_task(produce())
    await late.wait()  # half the events are out: these resume from the first one meanwhile
    joined_late, slow = watch(), watch()
    results = await asyncio.gather(
        *(_read(call, count) for call in [*early, joined_late]),
        _read(slow, count, pause=0.01),  # falls behind its buffer while events keep coming
    )
    await producing
    for events in results:
        assert [e.reason for e in events] == reasons
        assert [e.quantity for e in events] == list(range(999, 999 - count, -1))
    for call in [*early, joined_late, slow]:
        call.cancel()

"""What one CreateOrder costs in Redis (both services' commands, script bodies included).

Every command is counted from MONITOR, less the background sweeps and the event feed, so the
numbers are exact: the folds of issue 10 (the card and a retry's order read in the claim, the
outcome recorded with PAID, the product named on commit, one script per processor call, stock
scripts that read each hash once) and those of the order path after it (no TIME, no EXPIRE on
recording an outcome, a basket's lines held and sold in one script each) keep them where they are.
Since the buckets of issue 14 an order's scripts no longer touch the admin listings (two ZADDs
fewer) but append their events and bump the order's version (two XADDs and a HINCRBY more); the
indexer's work on those events, and the doorbell that tells it which buckets to read, are
background, batched over orders. The version is bumped within PAID's HSET (one HINCRBY less).
Then (40 to 34 a paid one-line order): the request id's record is one string, claimed by one
SET NX EX in the claim script and recorded by PAID in one SET ... KEEPTTL GET; the
simulated processor's token carries the card's behaviour and its charge record is the ledger
entry, so a charge is one SET NX GET.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from estore.common.buckets import bucket_of
from generated.estore.payments.v1 import payment_service_pb2 as pb
from tests.grpc.payments.conftest import Shop

pytestmark = pytest.mark.single_redis  # MONITOR watches one server
BACKGROUND = {"ZRANGEBYSCORE", "ZRANGE", "XREAD", "PING", "HELLO", "INFO", "CLIENT", "SELECT"}
BACKGROUND |= {"XREADGROUP", "XAUTOCLAIM", "XGROUP", "XACK"}  # Payments' indexer
# Payments' indexer's work and the leases; Inventory's indexer: its doorbell, and
# index_apply.lua's calls (the holds and sales of these orders move no product between stock
# sets, so their events are the indexer's alone).
BACKGROUND_KEYS = ("{pay:ix}", ":sweepers", ":sweep-lease:", "inv:{inv}:indexer:",
                   "inv:{inv}:indexed", "inv:{inv}:events")  # fmt: skip
BACKGROUND |= {"SCRIPT", "ZCARD"}  # ZCARD: the held-reservations gauge, every health probe
# Recovery's sweep: one script per bucket, on its four lease indexes (processing first).
SWEEP = re.compile(r"EVALSHA \w+ 4 pay:\{pay(:\d+)?\}:orders:processing ")


class Seen:
    """The commands a MONITOR saw: each one, and whether a script sent it."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, bool]] = []

    def names(self, *, scripts: bool = True) -> Counter[str]:
        return Counter(c.split(" ", 1)[0] for c, lua in self.commands if scripts or not lua)


@pytest.fixture
async def monitor(shop: Shop) -> AsyncIterator[Seen]:
    seen = Seen()
    assert isinstance(shop.redis, Redis)
    client = Redis(connection_pool=shop.redis.connection_pool)
    async with client.monitor() as feed:

        async def listen() -> None:
            async for event in feed.listen():
                command = str(event["command"])
                background = any(key in command for key in BACKGROUND_KEYS)
                background = background or bool(SWEEP.match(command))
                if command.split(" ", 1)[0].upper() not in BACKGROUND and not background:
                    seen.commands.append((command, event.get("client_type") == "lua"))

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        yield seen
        task.cancel()


async def _order(shop: Shop, seen: Seen, request: pb.CreateOrderRequest) -> pb.Order:
    """The order `request` makes, the commands of it alone in `seen`; a first order (another
    request id) loads the scripts."""
    first = pb.CreateOrderRequest()
    first.CopyFrom(request)
    first.request_id = uuid.uuid4().hex
    await shop.payments.CreateOrder(first, metadata=shop.buyer)
    await asyncio.sleep(0.2)  # commands of the set-up reach the monitor first
    seen.commands.clear()
    order: pb.Order = (await shop.payments.CreateOrder(request, metadata=shop.buyer)).order
    await asyncio.sleep(0.2)
    return order


async def test_a_paid_one_line_order_costs_34_commands(shop: Shop, monitor: Seen) -> None:
    product = await shop.product(quantity=10)
    method = await shop.card()
    request = pb.CreateOrderRequest(
        product_id=product, quantity=1, payment_method_id=method, request_id=uuid.uuid4().hex
    )
    order = await _order(shop, monitor, request)
    assert order.status == pb.ORDER_STATUS_PAID
    assert sum(monitor.names().values()) == 34, monitor.commands
    assert (monitor.names()["TIME"], monitor.names()["EXPIRE"]) == (0, 0)
    # Five scripts: the claim (one SET NX EX, with the card and the retry check), the hold, the
    # order, the sale, PAID (with the outcome, in one SET ... GET); the charge is one SET NX GET
    # (the token carries the card's behaviour). Since issue 14 the
    # reservation id is claimed for its product first (in Inventory's index slot: the hold
    # runs in the product's bucket; a SET NX GET of a key of its own that lapses after the
    # reservation, where an HSETNX into one hash kept every id for ever), and the stock scripts
    # read each hash once still.
    assert monitor.names(scripts=False) == Counter({"EVALSHA": 5, "SET": 2})
    assert monitor.names()["SET"] == 4  # the claim, the reservation id, the charge, the outcome
    assert monitor.names()["HGETALL"] == 1  # the card; the order is never read back
    assert monitor.names()["HINCRBY"] == 0  # the version moves with the status


async def test_without_a_request_id_nothing_is_claimed_or_looked_up(
    shop: Shop, monitor: Seen
) -> None:
    product = await shop.product(quantity=10)
    method = await shop.card()
    request = pb.CreateOrderRequest(product_id=product, quantity=1, payment_method_id=method)
    order = await _order(shop, monitor, request)
    assert order.status == pb.ORDER_STATUS_PAID
    names = monitor.names()
    assert (names["EXISTS"], names["TIME"]) == (1, 0)  # only the order's own write checks
    assert sum(names.values()) == 30, monitor.commands
    assert monitor.names(scripts=False) == Counter({"HGETALL": 1, "EVALSHA": 4, "SET": 2})


async def test_a_three_line_basket_costs_74_commands(shop: Shop, monitor: Seen) -> None:
    products = [await shop.product(quantity=10) for _ in range(3)]
    method = await shop.card()
    request = pb.CreateOrderRequest(
        items=[pb.LineItem(product_id=p, quantity=1) for p in products],
        payment_method_id=method,
        request_id=uuid.uuid4().hex,
    )
    order = await _order(shop, monitor, request)
    assert order.status == pb.ORDER_STATUS_PAID
    # The claim, the three holds (one batch per product bucket: issue 14), the order, the three
    # sales (likewise), PAID; the charge is one SET, no script.
    buckets = len({bucket_of(p) for p in products})
    assert sum(monitor.names().values()) == 68 + 2 * buckets, monitor.commands
    assert monitor.names(scripts=False)["EVALSHA"] == 3 + 2 * buckets
    # The intent's state; no commit or release looks its product up, and the claim's token is
    # read by the SET ... GET that records the outcome.
    assert monitor.names()["HGET"] == 1

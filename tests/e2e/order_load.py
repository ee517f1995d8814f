"""A bounded CreateOrder load with distinct request ids, its retries, and the money/stock checks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc

from estore.common.redis import RedisClient
from estore.inventory import store_keys
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc

Metadata = tuple[tuple[str, str], ...]
CALL_TIMEOUT = 8.0  # longer than a Redis socket timeout (5 s): a call stuck on a dead node ends
RETRY_PAUSE = 0.1
SETTLE_SECONDS = 30.0
# What a client retries with the same request_id: the store or an instance was down, or the
# first attempt still runs.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


@dataclass
class Outcome:
    """One CreateOrder call: what was asked, when, and the order or the status code."""

    request: pay_pb.CreateOrderRequest
    buyer: Metadata
    sent: float
    answered: float
    order: pay_pb.Order | None = None
    code: grpc.StatusCode | None = None
    message: str = ""


async def place(
    payments: pay_grpc.PaymentServiceStub, request: pay_pb.CreateOrderRequest, buyer: Metadata
) -> Outcome:
    """One CreateOrder call, its error kept rather than raised."""
    sent = time.monotonic()
    try:
        reply = await payments.CreateOrder(request, metadata=buyer, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return Outcome(request, buyer, sent, time.monotonic(), None, error.code(), error.details())
    return Outcome(request, buyer, sent, time.monotonic(), reply.order)


async def settle(payments: pay_grpc.PaymentServiceStub, failed: Outcome, seconds: float) -> Outcome:
    """Retry a failed call with the same request_id until it completes or `seconds` pass."""
    deadline = time.monotonic() + seconds
    outcome = failed
    while time.monotonic() < deadline:
        await asyncio.sleep(RETRY_PAUSE)
        outcome = await place(payments, failed.request, failed.buyer)
        if outcome.code not in RETRYABLE:
            return outcome
    return outcome


@dataclass
class OrderLoad:
    """Workers placing one-unit card orders, each with a request_id of its own."""

    payments: pay_grpc.PaymentServiceStub
    buyers: list[tuple[Metadata, str]]  # (token, payment method id)
    products: list[str]
    outcomes: list[Outcome] = field(default_factory=list)  # each call's first attempt
    retried: list[Outcome] = field(default_factory=list)  # the last retry of each failed one
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, workers: int, seconds: float) -> None:
        """Place orders from `workers` workers until `seconds` pass or stop is set."""
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._worker(index, deadline) for index in range(workers)))

    async def _worker(self, index: int, deadline: float) -> None:
        number = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            buyer, method = self.buyers[index % len(self.buyers)]
            request = pay_pb.CreateOrderRequest(
                product_id=self.products[(index + number) % len(self.products)],
                quantity=1,
                payment_method_id=method,
                request_id=f"load-{index}-{number}",
            )
            outcome = await place(self.payments, request, buyer)
            self.outcomes.append(outcome)
            number += 1
            if outcome.code in RETRYABLE:  # as a client would: the same request_id, soon
                self.retried.append(await settle(self.payments, outcome, SETTLE_SECONDS))

    def acknowledged(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.order is not None]

    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.order is None]


async def make_products(
    inventory: inv_grpc.InventoryServiceStub, admin: Metadata, count: int, quantity: int
) -> list[str]:
    """`count` products of `quantity` units each at 5.00."""
    ids = []
    for number in range(count):
        product = inv_pb.Product(
            name=f"Kettle {number}",
            quantity=quantity,
            price=money_pb2.Money(currency_code="USD", minor_units=500),
        )
        request = inv_pb.CreateProductRequest(product=product)
        ids.append(str((await inventory.CreateProduct(request, metadata=admin)).product.id))
    return ids


async def add_card(payments: pay_grpc.PaymentServiceStub, buyer: Metadata) -> str:
    """A card that is always approved, for `buyer`."""
    card = pay_pb.Card(number="4242424242424242", exp_month=12, exp_year=2031, cvc="123")
    request = pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card)
    return str((await payments.AddPaymentMethod(request, metadata=buyer)).payment_method.id)


async def stock_levels(redis: RedisClient, product_id: str) -> dict[str, int]:
    """A product's quantity (available), reserved, sold and added, read from its hash."""
    names = ("quantity", "reserved", "sold", "added")
    values = await redis.hmget(store_keys.product(product_id), names)
    return {name: int(value or 0) for name, value in zip(names, values, strict=True)}


def units_paid(orders: list[pay_pb.Order]) -> Counter[str]:
    """Units of each product in PAID orders, each order counted once."""
    paid: Counter[str] = Counter()
    for order in {order.id: order for order in orders}.values():
        if order.status == pay_pb.ORDER_STATUS_PAID:
            paid[order.product_id] += order.quantity
    return paid

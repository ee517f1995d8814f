"""A shop to measure, made through the public RPCs: a catalogue, a verified shopper with a card."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import grpc

from estore.bench.stack import Stack
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

SHOPPER = ("shopper@bench.example", "shopper-password")
LISTED_TAG = "bench-listed"  # on every other product: ListProducts filters by it
ORDER_STOCK = 2**31 - 1  # orders never run out of stock, however long the run
BASKET_LINES = 3  # the basket CreateOrder buys one unit of each of the first products
SEED_CONCURRENCY = 16
# UserService lets at most 5 sign-ins of one email run at once (a throttle): Login load signs in
# as several accounts, this many loops each.
LOOPS_PER_ACCOUNT = 4

READY_SECONDS = 30.0  # how long a service just started may refuse admin calls UNAVAILABLE
RETRY_SECONDS = 0.2
Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Shop:
    """What the scenarios call with."""

    product_ids: tuple[str, ...]  # GetProduct picks among these
    order_product_id: str  # CreateOrder buys this one
    basket_product_ids: tuple[str, ...]  # the basket CreateOrder buys one of each
    listed_tag: str
    shopper: Metadata  # the verified shopper's bearer token
    payment_method_id: str
    accounts: tuple[tuple[str, str], ...]  # email and password of accounts Login signs in to


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def _product(n: int, currency: str, category_id: str) -> inv_pb.Product:
    return inv_pb.Product(
        name=f"Bench product {n}",
        description="A product the bench reads, lists and orders.",
        price=money_pb2.Money(currency_code=currency, minor_units=500 + n % 997),
        quantity=ORDER_STOCK if n < BASKET_LINES else 1000,
        min_stock_level=5,
        discount_percentage=n % 4 * 5,
        tags=[LISTED_TAG, f"group-{n % 10}"] if n % 2 == 0 else [f"group-{n % 10}"],
        category_id=category_id,
        image_url=f"https://images.example.com/bench/{n}.jpg",
    )


async def once_serving(call: Callable[[], Awaitable[T]], seconds: float = READY_SECONDS) -> T:
    """`call()`, made again while it fails UNAVAILABLE (for up to `seconds`)."""
    # A service answers health checks SERVING before it has first read UserService's
    # revocation feed, and until then refuses admin calls UNAVAILABLE ("retry shortly").
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(RETRY_SECONDS)


async def _catalogue(
    inventory: inv_grpc.InventoryServiceStub, admin: Metadata, currency: str, products: int
) -> list[str]:
    request = inv_pb.CreateCategoryRequest(category=inv_pb.Category(name="Bench"))
    reply = await once_serving(lambda: inventory.CreateCategory(request, metadata=admin))
    gate = asyncio.Semaphore(SEED_CONCURRENCY)

    async def create(n: int) -> str:
        async with gate:
            request = inv_pb.CreateProductRequest(product=_product(n, currency, reply.category.id))
            created = await inventory.CreateProduct(request, metadata=admin)
            return str(created.product.id)

    return list(await asyncio.gather(*(create(n) for n in range(products))))


async def _shopper(stack: Stack, users: users_grpc.UserServiceStub) -> str:
    """Register, verify (the token comes from the outbox) and sign in; returns the token."""
    email, password = SHOPPER
    await users.Register(users_pb.RegisterRequest(email=email, password=password))
    mails = [json.loads(line) for line in stack.outbox.read_text().splitlines()]
    [token] = [m["token"] for m in mails if m["to"] == email and m["kind"] == "verify_email"]
    await users.VerifyEmail(users_pb.VerifyEmailRequest(token=token))
    login = await users.Login(users_pb.LoginRequest(email=email, password=password))
    return str(login.access_token)


async def _accounts(users: users_grpc.UserServiceStub, count: int) -> list[tuple[str, str]]:
    accounts = [(f"login-{n}@bench.example", f"login-password-{n}") for n in range(count)]
    await asyncio.gather(
        *(users.Register(users_pb.RegisterRequest(email=e, password=p)) for e, p in accounts)
    )
    return accounts


async def seed_shop(stack: Stack, products: int, login_loops: int) -> Shop:
    """`products` products (half tagged LISTED_TAG), a shopper with a card, accounts for Login."""
    async with (
        grpc.aio.insecure_channel(stack.targets["users"]) as users_channel,
        grpc.aio.insecure_channel(stack.targets["inventory"]) as inventory_channel,
        grpc.aio.insecure_channel(stack.targets["payments"]) as payments_channel,
    ):
        users = users_grpc.UserServiceStub(users_channel)
        email, password = stack.admin
        admin_login = await users.Login(users_pb.LoginRequest(email=email, password=password))
        admin = bearer(admin_login.access_token)
        inventory = inv_grpc.InventoryServiceStub(inventory_channel)
        product_ids = await _catalogue(inventory, admin, stack.currency, products)
        shopper = bearer(await _shopper(stack, users))
        accounts = await _accounts(users, -(-login_loops // LOOPS_PER_ACCOUNT))
        next_year = datetime.now(UTC).year + 1
        card = pay_pb.Card(
            number="4242 4242 4242 4242", exp_month=12, exp_year=next_year + 4, cvc="123"
        )
        method = await pay_grpc.PaymentServiceStub(payments_channel).AddPaymentMethod(
            pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card),
            metadata=shopper,
        )
    return Shop(
        product_ids=tuple(product_ids),
        order_product_id=product_ids[0],
        basket_product_ids=tuple(product_ids[:BASKET_LINES]),
        listed_tag=LISTED_TAG,
        shopper=shopper,
        payment_method_id=str(method.payment_method.id),
        accounts=tuple(accounts),
    )

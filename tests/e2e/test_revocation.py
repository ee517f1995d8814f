"""Access follows the account: Inventory and Payments refuse revoked tokens within 5 seconds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from estore.common.auth import TokenIssuer, TokenVerifier
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.e2e.suite import ADMIN_EMAIL, ADMIN_PASSWORD, Suite, running_suite
from tests.helpers import bearer, refused_within

Metadata = tuple[tuple[str, str], ...]
Call = Callable[[], Awaitable[Any]]
PASSWORD = "s3cret-pass"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
REVOKED = "AUTH_TOKEN_REVOKED"
WITHIN_SECONDS = 5.0  # the bound, from the change to the refusal


@dataclass
class Shop:
    """A stocked shop: a product, a category, a buyer with a paid and a pending order."""

    suite: Suite
    root: Metadata
    buyer: Metadata
    product_id: str
    category_id: str
    paid_order_id: str
    pending_order_id: str


def usd(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", minor_units=minor)


async def sign_up(suite: Suite, email: str, *, verify: bool = True) -> users_pb.LoginResponse:
    """Register (and verify) an account, then sign in."""
    await suite.users.Register(users_pb.RegisterRequest(email=email, password=PASSWORD))
    if verify:
        mail = json.loads(suite.settings.mail_outbox.read_text().splitlines()[-1])
        await suite.users.VerifyEmail(users_pb.VerifyEmailRequest(token=mail["token"]))
    return await sign_in(suite, email)


async def sign_in(suite: Suite, email: str) -> users_pb.LoginResponse:
    login: users_pb.LoginResponse = await suite.users.Login(
        users_pb.LoginRequest(email=email, password=PASSWORD)
    )
    return login


async def update_user(shop: Shop, user_id: int, **flags: bool) -> None:
    """The root admin sets `flags` on an account."""
    user = users_pb.User(id=user_id)
    for name, value in flags.items():
        setattr(user, name, value)
    mask = field_mask_pb2.FieldMask(paths=list(flags))
    await shop.suite.users.UpdateUser(
        users_pb.UpdateUserRequest(user=user, update_mask=mask), metadata=shop.root
    )


async def stock_the_shop(suite: Suite) -> Shop:
    root_login = await suite.users.Login(
        users_pb.LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    )
    root = bearer(root_login.access_token)
    category = await suite.inventory.CreateCategory(
        inv_pb.CreateCategoryRequest(category=inv_pb.Category(name="Tea")), metadata=root
    )
    product = inv_pb.Product(name="Sencha", price=usd(1000), quantity=50)
    created = await suite.inventory.CreateProduct(
        inv_pb.CreateProductRequest(product=product), metadata=root
    )
    buyer = bearer((await sign_up(suite, "ana@example.com")).access_token)
    card = pay_pb.Card(number="4242424242424242", exp_month=12, exp_year=2031, cvc="123")
    method = await suite.payments.AddPaymentMethod(
        pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card),
        metadata=buyer,
    )
    orders = [
        await suite.payments.CreateOrder(
            pay_pb.CreateOrderRequest(
                product_id=created.product.id, quantity=1, payment_method_id=method_id
            ),
            metadata=buyer,
        )
        for method_id in (method.payment_method.id, "")
    ]
    return Shop(
        suite, root, buyer, created.product.id, category.category.id,
        orders[0].order.id, orders[1].order.id,
    )  # fmt: skip


@pytest.fixture
async def shop(
    tmp_path: Path,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> AsyncIterator[Shop]:
    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier
    ) as suite:
        yield await stock_the_shop(suite)


def inventory_admin_calls(shop: Shop, who: Metadata) -> dict[str, Call]:
    """Every InventoryService RPC that needs admin powers (or the service role)."""
    inv, pid, cid = shop.suite.inventory, shop.product_id, shop.category_id
    mask = field_mask_pb2.FieldMask

    async def watch() -> None:
        call = inv.WatchInventory(inv_pb.WatchInventoryRequest(), metadata=who)
        try:
            await asyncio.wait_for(call.read(), 5)
        finally:
            call.cancel()

    return {  # a read first: it is the call repeated until the revocation arrives
        "GetProductAnalytics": lambda: inv.GetProductAnalytics(
            inv_pb.GetProductAnalyticsRequest(product_id=pid), metadata=who
        ),
        "CreateProduct": lambda: inv.CreateProduct(
            inv_pb.CreateProductRequest(product=inv_pb.Product(name="X", price=usd(1))),
            metadata=who,
        ),
        "UpdateProduct": lambda: inv.UpdateProduct(
            inv_pb.UpdateProductRequest(
                product=inv_pb.Product(id=pid, name="Y"), update_mask=mask(paths=["name"])
            ),
            metadata=who,
        ),
        "DeleteProduct": lambda: inv.DeleteProduct(
            inv_pb.DeleteProductRequest(product_id=pid), metadata=who
        ),
        "AdjustStock": lambda: inv.AdjustStock(
            inv_pb.AdjustStockRequest(product_id=pid, delta=5, reason="found"), metadata=who
        ),
        "CreateCategory": lambda: inv.CreateCategory(
            inv_pb.CreateCategoryRequest(category=inv_pb.Category(name="Coffee")), metadata=who
        ),
        "UpdateCategory": lambda: inv.UpdateCategory(
            inv_pb.UpdateCategoryRequest(
                category=inv_pb.Category(id=cid, name="Teas"), update_mask=mask(paths=["name"])
            ),
            metadata=who,
        ),
        "DeleteCategory": lambda: inv.DeleteCategory(
            inv_pb.DeleteCategoryRequest(category_id=cid), metadata=who
        ),
        "WatchInventory": watch,
        "ReserveStock": lambda: inv.ReserveStock(
            inv_pb.ReserveStockRequest(product_id=pid, quantity=1, reservation_id="ops-1"),
            metadata=who,
        ),
        "CommitReservation": lambda: inv.CommitReservation(
            inv_pb.CommitReservationRequest(reservation_id="ops-1"), metadata=who
        ),
        "ReleaseReservation": lambda: inv.ReleaseReservation(
            inv_pb.ReleaseReservationRequest(reservation_id="ops-1"), metadata=who
        ),
    }


def payments_admin_calls(shop: Shop, who: Metadata) -> dict[str, Call]:
    """Every PaymentService RPC that needs admin powers, on the buyer's orders."""
    pay, paid, pending = shop.suite.payments, shop.paid_order_id, shop.pending_order_id
    return {  # a read first, as above
        "GetOrder": lambda: pay.GetOrder(pay_pb.GetOrderRequest(order_id=paid), metadata=who),
        "RefundOrder": lambda: pay.RefundOrder(
            pay_pb.RefundOrderRequest(order_id=paid, amount=usd(100), reason="goodwill"),
            metadata=who,
        ),
        "ListOrders": lambda: pay.ListOrders(pay_pb.ListOrdersRequest(), metadata=who),
        "CancelOrder": lambda: pay.CancelOrder(
            pay_pb.CancelOrderRequest(order_id=pending, reason="ops"), metadata=who
        ),
    }


async def promoted_admin(shop: Shop) -> users_pb.LoginResponse:
    """A second admin, signed in, whose admin powers work right now."""
    login = await sign_up(shop.suite, "boss@example.com", verify=False)
    await update_user(shop, login.user.id, is_admin=True)
    login = await sign_in(shop.suite, "boss@example.com")  # now with the admin claim
    boss = bearer(login.access_token)
    await shop.suite.inventory.GetProductAnalytics(
        inv_pb.GetProductAnalyticsRequest(product_id=shop.product_id), metadata=boss
    )
    await shop.suite.payments.GetOrder(
        pay_pb.GetOrderRequest(order_id=shop.paid_order_id), metadata=boss
    )
    return login


@pytest.mark.parametrize("change", ["deactivated", "demoted"])
async def test_a_deactivated_or_demoted_admin_loses_every_admin_rpc_within_5_seconds(
    shop: Shop, change: str
) -> None:
    login = await promoted_admin(shop)
    boss = bearer(login.access_token)
    flag = {"is_active": False} if change == "deactivated" else {"is_admin": False}
    await update_user(shop, login.user.id, **flag)
    deadline = time.monotonic() + WITHIN_SECONDS

    calls = {**inventory_admin_calls(shop, boss), **payments_admin_calls(shop, boss)}
    for call in calls.values():
        # The first call to each service waits for its feed; the others are refused at once.
        await refused_within(call, UNAUTHENTICATED, REVOKED, deadline - time.monotonic())

    refresh = shop.suite.users.RefreshToken(
        users_pb.RefreshTokenRequest(refresh_token=login.refresh_token)
    )
    if change == "deactivated":
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await refresh
        assert caught.value.code() == UNAUTHENTICATED
        return
    # A demoted admin's session goes on, without admin powers.
    plain = bearer((await refresh).access_token)
    service_role = {"ReserveStock", "CommitReservation", "ReleaseReservation"}
    for name, call in inventory_admin_calls(shop, plain).items():
        reason = "SERVICE_ROLE_REQUIRED" if name in service_role else "ADMIN_REQUIRED"
        await refused_within(call, grpc.StatusCode.PERMISSION_DENIED, reason, 0)
    await refused_within(
        payments_admin_calls(shop, plain)["RefundOrder"],
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
        0,
    )
    await refused_within(
        payments_admin_calls(shop, plain)["GetOrder"],
        grpc.StatusCode.NOT_FOUND,
        "ORDER_NOT_FOUND",
        0,
    )


async def test_a_deactivated_user_cannot_order_within_5_seconds(shop: Shop) -> None:
    buyer_id = (
        await shop.suite.users.GetCurrentUser(users_pb.GetCurrentUserRequest(), metadata=shop.buyer)
    ).user.id
    await update_user(shop, buyer_id, is_active=False)

    async def order() -> None:
        request = pay_pb.CreateOrderRequest(product_id=shop.product_id, quantity=1)
        await shop.suite.payments.CreateOrder(request, metadata=shop.buyer)

    await refused_within(order, UNAUTHENTICATED, REVOKED, WITHIN_SECONDS)


async def test_admin_powers_fail_closed_while_the_feed_is_unreachable(
    tmp_path: Path,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier,
        ESTORE_REVOCATION_POLL_INTERVAL_SECONDS="0.2",
        ESTORE_REVOCATION_MAX_STALENESS_SECONDS="3",
    ) as suite:  # fmt: skip
        shop = await stock_the_shop(suite)
        await suite.servers[0].stop(grace=0)  # UserService is gone: nobody can learn revocations

        admin = {**inventory_admin_calls(shop, shop.root), **payments_admin_calls(shop, shop.root)}
        for call in admin.values():  # the first waits out the staleness limit
            await refused_within(call, grpc.StatusCode.UNAVAILABLE, "REVOCATIONS_UNAVAILABLE", 15)

        # A service token is not a user's: Inventory still serves Payments, and plain users buy.
        service = bearer(token_issuer.mint_service_token("ops", ttl_seconds=60).token)
        await suite.inventory.ReserveStock(
            inv_pb.ReserveStockRequest(product_id=shop.product_id, quantity=1), metadata=service
        )
        order = await suite.payments.CreateOrder(
            pay_pb.CreateOrderRequest(product_id=shop.product_id, quantity=2), metadata=shop.buyer
        )
        assert order.order.status == pay_pb.ORDER_STATUS_PENDING
        mine = await suite.payments.GetOrder(
            pay_pb.GetOrderRequest(order_id=shop.paid_order_id), metadata=shop.buyer
        )
        assert mine.order.status == pay_pb.ORDER_STATUS_PAID

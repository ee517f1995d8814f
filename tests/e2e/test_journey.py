"""The whole journey through the three real services, over gRPC."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.e2e.suite import ADMIN_EMAIL, ADMIN_PASSWORD, running_suite
from tests.helpers import REDIS_KINDS, bearer


def usd(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", minor_units=minor)


@pytest.mark.parametrize("redis_kind", REDIS_KINDS, indirect=True)  # and on a Redis Cluster
async def test_register_verify_buy_and_refund(
    tmp_path: Path,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier
    ) as suite:
        users, inventory, payments = suite.users, suite.inventory, suite.payments
        settings = suite.settings
        # A shopper registers, finds the token in the outbox, verifies, and signs in.
        await users.Register(
            users_pb.RegisterRequest(email="Ana@Example.com", password="s3cret-pass")
        )
        mail = json.loads(settings.mail_outbox.read_text().splitlines()[-1])
        assert (mail["kind"], mail["to"]) == ("verify_email", "ana@example.com")
        verified = await users.VerifyEmail(users_pb.VerifyEmailRequest(token=mail["token"]))
        assert verified.user.is_verified
        login = await users.Login(
            users_pb.LoginRequest(email="ana@example.com", password="s3cret-pass")
        )
        ana = bearer(login.access_token)

        # The admin stocks the shop.
        admin_login = await users.Login(
            users_pb.LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
        )
        admin = bearer(admin_login.access_token)
        category = (
            await inventory.CreateCategory(
                inv_pb.CreateCategoryRequest(category=inv_pb.Category(name="Tea")), metadata=admin
            )
        ).category
        product = (
            await inventory.CreateProduct(
                inv_pb.CreateProductRequest(
                    product=inv_pb.Product(
                        name="Sencha 100 g", price=usd(1250), quantity=20,
                        category_id=category.id, tags=["green"], discount_percentage=10,
                    )
                ),
                metadata=admin,
            )
        ).product  # fmt: skip
        # The admin watches the product's stock from its first event on.
        watch = inventory.WatchInventory(
            inv_pb.WatchInventoryRequest(product_ids=[product.id], after_event_id="0-0"),
            metadata=admin,
        )

        # Ana adds a card and orders three.
        card = pay_pb.Card(number="4242 4242 4242 4242", exp_month=12, exp_year=2031, cvc="123")
        method = (
            await payments.AddPaymentMethod(
                pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card),
                metadata=ana,
            )
        ).payment_method
        assert (method.details.brand, method.details.last4) == ("visa", "4242")
        order = (
            await payments.CreateOrder(
                pay_pb.CreateOrderRequest(
                    product_id=product.id, quantity=3, payment_method_id=method.id,
                    request_id="ana-first-order",
                ),
                metadata=ana,
            )
        ).order  # fmt: skip
        assert order.status == pay_pb.ORDER_STATUS_PAID
        assert order.unit_price.minor_units == 1125  # 12.50 less 10 %
        assert order.price.minor_units == 3375
        assert order.fee.minor_units == 169  # 168.75 rounds half-up
        assert order.total.minor_units == 3544
        stock = await inventory.GetProduct(inv_pb.GetProductRequest(product_id=product.id))
        assert (stock.product.quantity, stock.product.reserved) == (17, 0)

        # The admin refunds part, then the rest with restock.
        part = await payments.RefundOrder(
            pay_pb.RefundOrderRequest(order_id=order.id, amount=usd(1000), reason="late"),
            metadata=admin,
        )
        assert part.order.status == pay_pb.ORDER_STATUS_PARTIALLY_REFUNDED
        rest = await payments.RefundOrder(
            pay_pb.RefundOrderRequest(order_id=order.id, reason="returned", restock=True),
            metadata=admin,
        )
        assert rest.order.status == pay_pb.ORDER_STATUS_REFUNDED
        assert rest.order.refund_amount.minor_units == 3544
        stock = await inventory.GetProduct(inv_pb.GetProductRequest(product_id=product.id))
        assert stock.product.quantity == 20
        mine = await payments.ListOrders(pay_pb.ListOrdersRequest(), metadata=ana)
        assert [o.id for o in mine.orders] == [order.id]

        # The watch saw the three held, then sold, then back on the shelf.
        seen: list[tuple[int, int]] = []
        while seen[-1:] != [(20, 0)] or len(seen) < 2:
            reply = await asyncio.wait_for(watch.read(), timeout=10)
            seen.append((reply.event.quantity, reply.event.reserved))
        watch.cancel()
        assert (17, 3) in seen
        assert seen.index((17, 3)) < seen.index((17, 0))

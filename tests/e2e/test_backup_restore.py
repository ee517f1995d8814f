"""Fill the real services, back up, wipe, restore: every user, product and order is back."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from redis.asyncio import Redis

from estore.cli import main as estore
from estore.common.auth import TokenIssuer, TokenVerifier
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.e2e.suite import ADMIN_EMAIL, ADMIN_PASSWORD, Suite, running_suite
from tests.helpers import bearer

SHOPPERS = ["ana@example.com", "bo@example.com", "cy@example.com"]


async def _fill(suite: Suite) -> tuple[list[str], list[str]]:
    """Three verified shoppers, five products, one paid order each; the products and orders."""
    admin_login = await suite.users.Login(
        users_pb.LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    )
    admin = bearer(admin_login.access_token)
    products = []
    for n in range(5):
        product = inv_pb.Product(
            name=f"Teapot {n}", quantity=10,
            price=money_pb2.Money(currency_code="USD", minor_units=1000 + n),
        )  # fmt: skip
        reply = await suite.inventory.CreateProduct(
            inv_pb.CreateProductRequest(product=product), metadata=admin
        )
        products.append(reply.product.id)
    orders = []
    for n, email in enumerate(SHOPPERS):
        credentials = {"email": email, "password": "long password"}
        await suite.users.Register(users_pb.RegisterRequest(**credentials))
        mails = [json.loads(line) for line in suite.settings.mail_outbox.read_text().splitlines()]
        token = next(m["token"] for m in reversed(mails) if m["to"] == email)
        await suite.users.VerifyEmail(users_pb.VerifyEmailRequest(token=token))
        login = await suite.users.Login(users_pb.LoginRequest(**credentials))
        shopper = bearer(login.access_token)
        card = pay_pb.Card(number="4242424242424242", exp_month=12, exp_year=2031, cvc="123")
        method = await suite.payments.AddPaymentMethod(
            pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card),
            metadata=shopper,
        )
        order = await suite.payments.CreateOrder(
            pay_pb.CreateOrderRequest(
                product_id=products[n], quantity=2, payment_method_id=method.payment_method.id
            ),
            metadata=shopper,
        )
        orders.append(order.order.id)
    return products, orders


async def _everything(suite: Suite, products: list[str], orders: list[str]) -> dict[str, object]:
    admin_login = await suite.users.Login(
        users_pb.LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    )
    admin = bearer(admin_login.access_token)
    users = await suite.users.ListUsers(users_pb.ListUsersRequest(page_size=100), metadata=admin)
    stock = [
        (await suite.inventory.GetProduct(inv_pb.GetProductRequest(product_id=p))).product
        for p in products
    ]
    found = [
        (await suite.payments.GetOrder(pay_pb.GetOrderRequest(order_id=o), metadata=admin)).order
        for o in orders
    ]
    return {
        "users": sorted(u.email for u in users.users),
        "products": [(p.name, p.quantity, p.price.minor_units) for p in stock],
        "orders": [(o.id, o.status, o.total.minor_units, o.user_id) for o in found],
    }


async def test_backup_wipe_restore(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    monkeypatch.setenv("ESTORE_USERS_DATABASE_URL", users_database_url)
    monkeypatch.setenv("ESTORE_REDIS_URL", redis_url)
    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier
    ) as suite:
        products, orders = await _fill(suite)
        before = await _everything(suite, products, orders)
        assert before["users"] == sorted([ADMIN_EMAIL, *SHOPPERS])
        assert estore(["backup", str(tmp_path / "backup")]) == 0

    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    with psycopg.connect(users_database_url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
    assert estore(["restore", str(tmp_path / "backup"), "--yes"]) == 0

    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier
    ) as suite:
        assert await _everything(suite, products, orders) == before

"""Inventory services over a real Redis, with a clock the tests move."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from estore.common.auth import Caller
from estore.common.config import Settings
from estore.common.redis import RedisClient, connect_redis
from estore.inventory.models import Category, Money, NewProduct, Product
from estore.inventory.rules_listing import PageTokenSource
from estore.inventory.service_categories import CategoryService
from estore.inventory.service_products import ProductService
from estore.inventory.service_stock import StockService
from estore.inventory.store import InventoryStore
from tests.helpers import on_both_redis_kinds

ADMIN = Caller(user_id=1, is_admin=True, is_verified=True)
SERVICE = Caller(is_service=True)
USER = Caller(user_id=2, is_verified=True)
START_MS = 1_700_000_000_000


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_redis_kinds(metafunc)  # the stores and scripts on a single Redis and on a cluster


class FakeClock:
    """Epoch milliseconds that only move when told."""

    def __init__(self, now: int = START_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class Inventory:
    """The three inventory services over one store, and the clock they share."""

    store: InventoryStore
    products: ProductService
    stock: StockService
    categories: CategoryService
    clock: FakeClock

    async def product(self, name: str = "Widget", price: int = 1000, **fields) -> Product:
        """Create a product as the admin."""
        draft = NewProduct(name=name, price=Money("USD", price), **fields)
        return await self.products.create_product(ADMIN, draft)

    async def category(self, name: str, parent_id: str = "") -> Category:
        """Create a category as the admin."""
        return await self.categories.create_category(
            ADMIN, Category(id="", name=name, parent_id=parent_id)
        )


@pytest.fixture
async def redis(redis_url: str):
    client = connect_redis(redis_url, "test")
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def build_inventory(
    redis: RedisClient, clock: FakeClock, *, row_budget: int | None = None
) -> Inventory:
    """Services wired as app.py wires them, with the fake clock."""
    settings = Settings.from_env({})
    store = (
        InventoryStore(redis)
        if row_budget is None
        else InventoryStore(redis, row_budget=row_budget)
    )
    tokens = PageTokenSource(None, store.shared_page_token_secret)
    return Inventory(
        store=store,
        products=ProductService(store, currency=settings.currency, clock=clock, tokens=tokens),
        stock=StockService(store, default_ttl_seconds=900, clock=clock),
        categories=CategoryService(store, tokens=tokens),
        clock=clock,
    )


@pytest.fixture
def inventory(redis: RedisClient, clock: FakeClock) -> Inventory:
    return build_inventory(redis, clock)

"""Who may do what, decided before the store is touched (no network needed)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from estore.common.auth import Caller
from estore.common.errors import PermissionDenied, Unauthenticated
from estore.inventory.models import Category, EventFilter, Money, NewProduct
from estore.inventory.rules_listing import PageTokenSource
from estore.inventory.service_categories import CategoryService
from estore.inventory.service_products import ProductService
from estore.inventory.service_stock import StockService
from estore.inventory.service_watch import WatchService
from estore.inventory.store import InventoryStore
from estore.inventory.store_events import EventLog
from estore.inventory.task_event_feed import EventFeed

USER = Caller(user_id=2, is_verified=True)
SERVICE = Caller(is_service=True)
NOBODY = Caller()


class UntouchableStore:
    """Fails the test if the service reaches the store."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used ({name}) before the caller was checked")


async def _no_secret() -> bytes:
    raise AssertionError("unused")


def _services() -> tuple[ProductService, StockService, CategoryService, WatchService]:
    store = cast(InventoryStore, UntouchableStore())
    tokens = PageTokenSource("x" * 32, _no_secret)
    events = cast(EventLog, UntouchableStore())
    return (
        ProductService(store, currency="USD", clock=lambda: 0, tokens=tokens),
        StockService(store, default_ttl_seconds=900, clock=lambda: 0),
        CategoryService(store, tokens=tokens),
        WatchService(EventFeed(events, max_watchers=10)),
    )


def _calls(caller: Caller) -> dict[str, Any]:
    products, stock, categories, watches = _services()
    draft = NewProduct(name="x", price=Money("USD", 1))
    return {
        "create_product": lambda: products.create_product(caller, draft),
        "update_product": lambda: products.update_product(caller, "p", draft, frozenset({"name"})),
        "delete_product": lambda: products.delete_product(caller, "p"),
        "analytics": lambda: products.get_analytics(caller, "p"),
        "adjust_stock": lambda: stock.adjust_stock(caller, "p", 1, ""),
        "reserve_stock": lambda: stock.reserve_stock(caller, "p", 1),
        "commit": lambda: stock.commit_reservation(caller, "r"),
        "release": lambda: stock.release_reservation(caller, "r"),
        "create_category": lambda: categories.create_category(caller, Category(id="", name="x")),
        "update_category": lambda: categories.update_category(
            caller, Category(id="c", name="x"), frozenset({"name"})
        ),
        "delete_category": lambda: categories.delete_category(caller, "c"),
        "watch": lambda: anext(watches.watch(caller, EventFilter())),
    }


ADMIN_ONLY = {
    "create_product", "update_product", "delete_product", "analytics",
    "create_category", "update_category", "delete_category",
}  # fmt: skip
SERVICE_OK = {"adjust_stock", "reserve_stock", "commit", "release", "watch"}


@pytest.mark.parametrize("name", sorted(_calls(USER)))
async def test_plain_users_are_refused(name: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await _calls(USER)[name]()
    expected = (
        "SERVICE_ROLE_REQUIRED"
        if name in {"reserve_stock", "commit", "release"}
        else ("ADMIN_REQUIRED")
    )
    assert caught.value.reason == expected


@pytest.mark.parametrize("name", sorted(_calls(NOBODY)))
async def test_anonymous_callers_must_sign_in(name: str) -> None:
    with pytest.raises(Unauthenticated):
        await _calls(NOBODY)[name]()


@pytest.mark.parametrize("name", sorted(ADMIN_ONLY))
async def test_services_may_not_change_the_catalogue(name: str) -> None:
    with pytest.raises(PermissionDenied):
        await _calls(SERVICE)[name]()


@pytest.mark.parametrize("name", sorted(SERVICE_OK))
async def test_services_pass_the_role_check(name: str) -> None:
    with pytest.raises(AssertionError, match="the store was used"):
        await _calls(SERVICE)[name]()

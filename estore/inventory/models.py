"""Inventory's plain data: products, categories, reservations, analytics, events and queries.

Money is integer minor units of the deployment currency; times are epoch milliseconds.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from estore.common.money import apply_discount

Clock = Callable[[], int]  # epoch milliseconds


def system_clock() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Money:
    """An amount as a client sent it: a currency code and integer minor units."""

    currency_code: str
    minor_units: int


@dataclass(frozen=True)
class Product:
    """A catalogue entry with its stock counters."""

    id: str
    name: str
    price_minor: int
    quantity: int
    reserved: int
    sold: int
    added: int
    created_by: int
    category_id: str
    description: str
    tags: tuple[str, ...]
    image_url: str
    min_stock_level: int
    discount_percentage: int
    created_at: int
    updated_at: int | None
    # Bumped by every change of the fields above other than the stock counters; not compared.
    rev: int = field(default=0, compare=False)

    @property
    def effective_price_minor(self) -> int:
        """The price after the discount, rounded half-up to the minor unit."""
        return apply_discount(self.price_minor, self.discount_percentage)


@dataclass(frozen=True)
class ProductFields:
    """The client-settable fields of a product, validated and normalised."""

    name: str
    price_minor: int
    category_id: str
    description: str
    tags: tuple[str, ...]
    image_url: str
    min_stock_level: int
    discount_percentage: int


@dataclass(frozen=True)
class NewProduct:
    """What CreateProduct receives: the fields as sent, before validation."""

    name: str
    price: Money | None
    quantity: int = 0
    category_id: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    image_url: str = ""
    min_stock_level: int = 0
    discount_percentage: int = 0


@dataclass(frozen=True)
class Category:
    """A node of the category tree; parent_id "" is the root."""

    id: str
    name: str
    description: str = ""
    parent_id: str = ""


class ReservationState(enum.Enum):
    """Where a reservation is in its life; all but HELD are final."""

    HELD = "HELD"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Reservation:
    """Units of one product held (or once held) for a pending order."""

    id: str
    product_id: str
    quantity: int
    unit_price_minor: int
    state: ReservationState
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class ProductAnalytics:
    """View and stock-update counters of one product."""

    product_id: str
    views: int = 0
    last_viewed: int | None = None
    stock_updates: int = 0
    last_stock_update: int | None = None


class EventType(enum.Enum):
    """The kind of an inventory event (the proto's names without their prefix)."""

    STOCK_CHANGED = "STOCK_CHANGED"
    LOW_STOCK = "LOW_STOCK"
    PRODUCT_CREATED = "PRODUCT_CREATED"
    PRODUCT_UPDATED = "PRODUCT_UPDATED"
    PRODUCT_DELETED = "PRODUCT_DELETED"


@dataclass(frozen=True)
class InventoryEvent:
    """One entry of the inventory event stream."""

    id: str
    type: EventType
    product_id: str
    quantity: int
    reserved: int
    delta: int
    reason: str
    occurred_at: int


class SortField(enum.Enum):
    """What ListProducts can order by."""

    CREATED_AT = "created_at"
    PRICE = "price"
    NAME = "name"


@dataclass(frozen=True)
class ProductOrder:
    """A ListProducts order: a field and a direction; ties go by id in the same direction."""

    field: SortField = SortField.CREATED_AT
    descending: bool = False


@dataclass(frozen=True)
class ProductFilter:
    """ListProducts filters after normalisation; empty or None fields do not filter."""

    category_id: str = ""
    include_subcategories: bool = False
    tags: tuple[str, ...] = ()
    min_price: Money | None = None
    max_price: Money | None = None
    in_stock: bool = False
    low_stock: bool = False
    query: str = ""


@dataclass(frozen=True)
class ProductPage:
    """One page of ListProducts."""

    products: list[Product]
    next_page_token: str = ""


@dataclass(frozen=True)
class CategoryPage:
    """One page of ListCategories."""

    categories: list[Category]
    next_page_token: str = ""


@dataclass(frozen=True)
class EventFilter:
    """Which events WatchInventory delivers, and from where."""

    product_ids: frozenset[str] = field(default_factory=frozenset)
    low_stock_only: bool = False
    after_event_id: str = ""

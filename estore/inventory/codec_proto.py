"""Conversions between inventory protobuf messages and the service's plain dataclasses."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from estore.common.proto import money
from estore.inventory.models import (
    Category,
    EventFilter,
    EventType,
    InventoryEvent,
    Money,
    NewProduct,
    Product,
    ProductAnalytics,
    ProductFilter,
    Reservation,
    ReservationState,
)
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb

_STATES = {
    ReservationState.HELD: pb.RESERVATION_STATE_HELD,
    ReservationState.COMMITTED: pb.RESERVATION_STATE_COMMITTED,
    ReservationState.RELEASED: pb.RESERVATION_STATE_RELEASED,
    ReservationState.EXPIRED: pb.RESERVATION_STATE_EXPIRED,
}
_EVENT_TYPES = {
    EventType.STOCK_CHANGED: pb.INVENTORY_EVENT_TYPE_STOCK_CHANGED,
    EventType.LOW_STOCK: pb.INVENTORY_EVENT_TYPE_LOW_STOCK,
    EventType.PRODUCT_CREATED: pb.INVENTORY_EVENT_TYPE_PRODUCT_CREATED,
    EventType.PRODUCT_UPDATED: pb.INVENTORY_EVENT_TYPE_PRODUCT_UPDATED,
    EventType.PRODUCT_DELETED: pb.INVENTORY_EVENT_TYPE_PRODUCT_DELETED,
}


def _ts(epoch_ms: int | None) -> timestamp_pb2.Timestamp | None:
    if epoch_ms is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(epoch_ms)
    return stamp


def _money_from_proto(message: money_pb2.Money) -> Money:
    return Money(message.currency_code, message.minor_units)


def product_to_proto(product: Product, currency: str) -> pb.Product:
    """A Product message, with effective_price."""
    return pb.Product(
        id=product.id,
        name=product.name,
        price=money(product.price_minor, currency),
        effective_price=money(product.effective_price_minor, currency),
        quantity=product.quantity,
        reserved=product.reserved,
        created_by=product.created_by,
        category_id=product.category_id,
        description=product.description,
        tags=list(product.tags),
        image_url=product.image_url,
        min_stock_level=product.min_stock_level,
        discount_percentage=product.discount_percentage,
        created_at=_ts(product.created_at),
        updated_at=_ts(product.updated_at),
    )


# Messages kept for this many products; beyond it the oldest are built again when read.
MAX_CACHED_PRODUCTS = 10_000


class ProductMessages:
    """Product messages built once per product revision, then copied with the live stock."""

    # A product's fields other than its stock counters change only with its `rev` (and
    # updated_at); its quantity and reserved change on every order, so they are set per read.

    def __init__(self, currency: str, max_products: int = MAX_CACHED_PRODUCTS) -> None:
        self._currency = currency
        self._max_products = max_products
        self._built: dict[str, tuple[tuple[int, int | None, int], pb.Product]] = {}

    def fill(self, message: pb.Product, product: Product) -> None:
        """Make `message` (a field of a response) the Product message of `product`."""
        version = (product.rev, product.updated_at, product.created_at)
        found = self._built.get(product.id)
        if found is None or found[0] != version:
            template = product_to_proto(product, self._currency)
            if found is None and len(self._built) >= self._max_products:
                del self._built[next(iter(self._built))]
            self._built[product.id] = (version, template)
        else:
            template = found[1]
        message.CopyFrom(template)
        message.quantity = product.quantity
        message.reserved = product.reserved

    def __len__(self) -> int:
        return len(self._built)


def product_from_proto(message: pb.Product) -> NewProduct:
    """The client-settable fields of a Product message (output-only fields are ignored)."""
    return NewProduct(
        name=message.name,
        price=_money_from_proto(message.price) if message.HasField("price") else None,
        quantity=message.quantity,
        category_id=message.category_id,
        description=message.description,
        tags=tuple(message.tags),
        image_url=message.image_url,
        min_stock_level=message.min_stock_level,
        discount_percentage=message.discount_percentage,
    )


def filter_from_proto(message: pb.ProductFilter) -> ProductFilter:
    """A ProductFilter from its message; unset prices do not filter."""
    return ProductFilter(
        category_id=message.category_id,
        include_subcategories=message.include_subcategories,
        tags=tuple(message.tags),
        min_price=_money_from_proto(message.min_price) if message.HasField("min_price") else None,
        max_price=_money_from_proto(message.max_price) if message.HasField("max_price") else None,
        in_stock=message.in_stock,
        low_stock=message.low_stock,
        query=message.query,
    )


def reservation_to_proto(reservation: Reservation, currency: str) -> pb.Reservation:
    """A Reservation message."""
    return pb.Reservation(
        id=reservation.id,
        product_id=reservation.product_id,
        quantity=reservation.quantity,
        unit_price=money(reservation.unit_price_minor, currency),
        expires_at=_ts(reservation.expires_at),
        state=_STATES[reservation.state],
        created_at=_ts(reservation.created_at),
    )


def category_to_proto(category: Category) -> pb.Category:
    """A Category message."""
    return pb.Category(
        id=category.id,
        name=category.name,
        description=category.description,
        parent_id=category.parent_id,
    )


def category_from_proto(message: pb.Category) -> Category:
    """A Category from its message."""
    return Category(
        id=message.id,
        name=message.name,
        description=message.description,
        parent_id=message.parent_id,
    )


def analytics_to_proto(analytics: ProductAnalytics) -> pb.ProductAnalytics:
    """A ProductAnalytics message."""
    return pb.ProductAnalytics(
        product_id=analytics.product_id,
        views=analytics.views,
        last_viewed=_ts(analytics.last_viewed),
        stock_updates=analytics.stock_updates,
        last_stock_update=_ts(analytics.last_stock_update),
    )


def event_filter_from_proto(message: pb.WatchInventoryRequest) -> EventFilter:
    """What a WatchInventory call asks for."""
    return EventFilter(
        product_ids=frozenset(message.product_ids),
        low_stock_only=message.low_stock_only,
        after_event_id=message.after_event_id,
    )


def event_to_proto(event: InventoryEvent) -> pb.InventoryEvent:
    """An InventoryEvent message."""
    return pb.InventoryEvent(
        id=event.id,
        type=_EVENT_TYPES[event.type],
        product_id=event.product_id,
        quantity=event.quantity,
        reserved=event.reserved,
        delta=event.delta,
        reason=event.reason,
        occurred_at=_ts(event.occurred_at),
    )

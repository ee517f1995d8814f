"""How inventory entities look as Redis hashes and stream entries, both ways.

JSON forms of stored responses are in codec_json.py; the word tokenizer is in rules_words.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from estore.common.redis import text
from estore.inventory.models import (
    Category,
    EventType,
    InventoryEvent,
    Product,
    ProductAnalytics,
    ProductFields,
    Reservation,
    ReservationState,
)

Hash = dict[str, str]
# The product hash fields a read fetches (HMGET), in the order product_from_fields takes them.
PRODUCT_FIELDS = (
    "id", "name", "price_minor", "quantity", "reserved", "sold", "added", "created_by",
    "category_id", "description", "tags", "image_url", "min_stock_level",
    "discount_percentage", "created_at", "updated_at", "rev",
)  # fmt: skip


def as_hash(reply: Mapping[Any, Any] | Sequence[Any]) -> Hash:
    """An HGETALL reply (a mapping, or a flat list from a script) as a str dict."""
    if isinstance(reply, Mapping):
        return {text(k): text(v) for k, v in reply.items()}
    return {text(reply[i]): text(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}


def sort_member(name: str, entity_id: str) -> str:
    """The name-ordered index member: lower-cased name, NUL, id (names hold no NUL)."""
    return f"{name.lower()}\0{entity_id}"


def fields_hash(fields: ProductFields, product_id: str) -> Hash:
    """The hash fields that follow from a product's settable fields."""
    return {
        "name": fields.name,
        "sort_key": sort_member(fields.name, product_id),
        "price_minor": str(fields.price_minor),
        "category_id": fields.category_id,
        "description": fields.description,
        "tags": json.dumps(list(fields.tags)),
        "image_url": fields.image_url,
        "min_stock_level": str(fields.min_stock_level),
        "discount_percentage": str(fields.discount_percentage),
    }


def new_product_hash(
    product_id: str, fields: ProductFields, quantity: int, created_by: int, now: int
) -> Hash:
    """Every field of a new product's hash."""
    return {
        "id": product_id,
        **fields_hash(fields, product_id),
        "quantity": str(quantity),
        "reserved": "0",
        "sold": "0",
        "added": str(quantity),
        "created_by": str(created_by),
        "created_at": str(now),
        "updated_at": "",
        "rev": "0",
    }


def _optional_int(value: str | None) -> int | None:
    return int(value) if value else None


def product_from_hash(h: Hash) -> Product:
    """A Product from its hash."""
    return Product(
        id=h["id"],
        name=h["name"],
        price_minor=int(h["price_minor"]),
        quantity=int(h["quantity"]),
        reserved=int(h["reserved"]),
        sold=int(h["sold"]),
        added=int(h["added"]),
        created_by=int(h["created_by"]),
        category_id=h["category_id"],
        description=h["description"],
        tags=_tags(h["tags"]),
        image_url=h["image_url"],
        min_stock_level=int(h["min_stock_level"]),
        discount_percentage=int(h["discount_percentage"]),
        created_at=int(h["created_at"]),
        updated_at=_optional_int(h.get("updated_at")),
        rev=int(h.get("rev") or 0),
    )


def product_from_fields(values: Sequence[Any]) -> Product | None:
    """A Product from an HMGET of PRODUCT_FIELDS (the hot read path: no dict, no JSON parse
    for tag lists seen before); None when the product does not exist."""
    (
        product_id, name, price, quantity, reserved, sold, added, created_by, category_id,
        description, tags, image_url, min_stock, discount, created_at, updated_at, rev,
    ) = values  # fmt: skip
    if product_id is None:
        return None
    return Product(
        id=product_id.decode(),
        name=_str(name),
        price_minor=int(price or 0),
        quantity=int(quantity or 0),
        reserved=int(reserved or 0),
        sold=int(sold or 0),
        added=int(added or 0),
        created_by=int(created_by or 0),
        category_id=_str(category_id),
        description=_str(description),
        tags=_tags(_str(tags) or "[]"),
        image_url=_str(image_url),
        min_stock_level=int(min_stock or 0),
        discount_percentage=int(discount or 0),
        created_at=int(created_at or 0),
        updated_at=int(updated_at) if updated_at else None,
        rev=int(rev or 0),
    )


def _str(value: bytes | None) -> str:
    return value.decode() if value is not None else ""


@functools.lru_cache(maxsize=4096)
def _tags(encoded: str) -> tuple[str, ...]:
    """A stored tag list (JSON); products share few distinct lists, so each is parsed once."""
    return tuple(json.loads(encoded))


def product_fields(product: Product) -> ProductFields:
    """The settable fields of a stored product."""
    return ProductFields(
        name=product.name,
        price_minor=product.price_minor,
        category_id=product.category_id,
        description=product.description,
        tags=product.tags,
        image_url=product.image_url,
        min_stock_level=product.min_stock_level,
        discount_percentage=product.discount_percentage,
    )


def reservation_from_hash(h: Hash) -> Reservation:
    """A Reservation from its hash."""
    return Reservation(
        id=h["id"],
        product_id=h["product_id"],
        quantity=int(h["quantity"]),
        unit_price_minor=int(h["unit_price_minor"]),
        state=ReservationState(h["state"]),
        created_at=int(h["created_at"]),
        expires_at=int(h["expires_at"]),
    )


def category_from_hash(h: Hash) -> Category:
    """A Category from its hash."""
    return Category(
        id=h["id"], name=h["name"], description=h["description"], parent_id=h["parent_id"]
    )


def analytics_from_hash(product_id: str, h: Hash) -> ProductAnalytics:
    """ProductAnalytics from its hash (missing counters are zero)."""
    return ProductAnalytics(
        product_id=product_id,
        views=int(h.get("views") or 0),
        last_viewed=_optional_int(h.get("last_viewed")),
        stock_updates=int(h.get("stock_updates") or 0),
        last_stock_update=_optional_int(h.get("last_stock_update")),
    )


_EVENT_TYPES = {kind.value.encode(): kind for kind in EventType}


def event_from_entry(event_id: object, entry: Mapping[Any, Any] | Sequence[Any]) -> InventoryEvent:
    """An InventoryEvent from a stream entry."""
    # The reader decodes every event of the stream: an entry as redis-py reads it (bytes both
    # ways) is read field by field, without first decoding all of it into a str dict.
    if isinstance(entry, dict) and b"type" in entry:
        return InventoryEvent(
            text(event_id),
            _EVENT_TYPES[entry[b"type"]],
            entry[b"product_id"].decode(),
            int(entry[b"quantity"]),
            int(entry[b"reserved"]),
            int(entry[b"delta"]),
            entry[b"reason"].decode(),
            int(entry[b"at"]),
        )
    h = as_hash(entry)
    return InventoryEvent(
        id=text(event_id),
        type=EventType(h["type"]),
        product_id=h["product_id"],
        quantity=int(h["quantity"]),
        reserved=int(h["reserved"]),
        delta=int(h["delta"]),
        reason=h["reason"],
        occurred_at=int(h["at"]),
    )

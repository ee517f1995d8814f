"""Field rules of the inventory proto: limits, normalisation, and one error listing every fault."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from estore.common.errors import FieldViolation, InvalidArgument
from estore.inventory.errors import CurrencyMismatch
from estore.inventory.models import Category, Money, NewProduct, ProductFields

NAME_MAX = 200
DESCRIPTION_MAX = 5000
TAGS_MAX = 20
TAG_MAX = 50
IMAGE_URL_MAX = 2048
# Prices stay far below 2^53 / 100, so integer arithmetic in Lua (doubles) stays exact.
PRICE_MAX_MINOR = 10**12
CATEGORY_NAME_MAX = 100
CATEGORY_DESCRIPTION_MAX = 1000
RESERVE_MAX = 10_000
REASON_MAX = 200
REQUEST_ID_MAX = 128
QUERY_MAX = 200
QUERY_WORDS_MAX = 10
WATCH_PRODUCTS_MAX = 100
# Ids become parts of Redis keys, so they may not hold the ':' that separates key parts.
ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
ID_RULE = "must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -"
STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
STREAM_PART_MAX = 2**64 - 1  # Redis rejects a stream id part that does not fit in 64 bits
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Violations:
    """Collects field violations and raises them together."""

    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.found.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.found:
            summary = "; ".join(f"{v.field}: {v.description}" for v in self.found)
            raise InvalidArgument(summary, violations=self.found)


def text_field(v: Violations, field: str, value: str, *, required: bool, maximum: int) -> str:
    """A trimmed single-line text field within 1 (if required) to `maximum` characters."""
    trimmed = value.strip()
    if required and not trimmed:
        v.add(field, "is required")
    elif len(trimmed) > maximum:
        v.add(field, f"must be at most {maximum} characters")
    elif _CONTROL.search(trimmed):
        v.add(field, "must not contain control characters")
    return trimmed


def price_minor(v: Violations, field: str, price: Money | None, currency: str) -> int:
    """The minor units of a required price in the deployment currency."""
    if price is None:
        v.add(field, "is required")
        return 0
    return money_minor(v, field, price, currency)


def money_minor(v: Violations, field: str, price: Money, currency: str) -> int:
    """The minor units of an amount; CURRENCY_MISMATCH for another currency."""
    if price.currency_code.upper() != currency:
        raise CurrencyMismatch(f"{field}.currency_code", currency)
    if not 0 <= price.minor_units <= PRICE_MAX_MINOR:
        v.add(f"{field}.minor_units", f"must be between 0 and {PRICE_MAX_MINOR}")
    return price.minor_units


def tags(v: Violations, field: str, values: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, lower-cased, de-duplicated tags (at most 20, each 1 to 50 characters)."""
    values = list(values)
    if len(values) > TAGS_MAX:
        v.add(field, f"must hold at most {TAGS_MAX} tags")
    normalised: list[str] = []
    for tag in values:
        cleaned = tag.strip().lower()
        if not 1 <= len(cleaned) <= TAG_MAX or _CONTROL.search(cleaned):
            v.add(field, f"each tag must be 1 to {TAG_MAX} printable characters")
        elif cleaned not in normalised:
            normalised.append(cleaned)
    return tuple(normalised)


def image_url(v: Violations, field: str, value: str) -> str:
    """An absolute http(s) URL, or empty."""
    url = value.strip()
    if not url:
        return ""
    if len(url) > IMAGE_URL_MAX:
        v.add(field, f"must be at most {IMAGE_URL_MAX} characters")
        return url
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or re.search(r"[\s\x00-\x1f\x7f]", url):
        v.add(field, "must be an absolute http:// or https:// URL")
    return url


def integer(v: Violations, field: str, value: int, low: int, high: int) -> int:
    """An integer within low..high."""
    if not low <= value <= high:
        v.add(field, f"must be between {low} and {high}")
    return value


PRODUCT_PATHS = frozenset(
    {
        "name",
        "price",
        "category_id",
        "description",
        "tags",
        "image_url",
        "min_stock_level",
        "discount_percentage",
    }
)


def product_changes(
    v: Violations, draft: NewProduct, paths: Iterable[str], currency: str
) -> dict[str, Any]:
    """The ProductFields attributes for the update-mask `paths`, each checked; others ignored."""
    checks: dict[str, Callable[[], tuple[str, Any]]] = {
        "name": lambda: (
            "name",
            text_field(v, "product.name", draft.name, required=True, maximum=NAME_MAX),
        ),
        "price": lambda: ("price_minor", price_minor(v, "product.price", draft.price, currency)),
        "category_id": lambda: (
            "category_id",
            identifier(v, "product.category_id", draft.category_id, required=False),
        ),
        "description": lambda: (
            "description",
            description(v, "product.description", draft.description, DESCRIPTION_MAX),
        ),
        "tags": lambda: ("tags", tags(v, "product.tags", draft.tags)),
        "image_url": lambda: ("image_url", image_url(v, "product.image_url", draft.image_url)),
        "min_stock_level": lambda: (
            "min_stock_level",
            integer(v, "product.min_stock_level", draft.min_stock_level, 0, 2**31 - 1),
        ),
        "discount_percentage": lambda: (
            "discount_percentage",
            integer(v, "product.discount_percentage", draft.discount_percentage, 0, 100),
        ),
    }
    return dict(checks[path]() for path in sorted(paths) if path in checks)


def product_fields(v: Violations, draft: NewProduct, currency: str) -> ProductFields:
    """Every settable field of a new product, checked against the proto's limits."""
    return ProductFields(**product_changes(v, draft, PRODUCT_PATHS, currency))


def description(v: Violations, field: str, value: str, maximum: int) -> str:
    """Free text (line breaks allowed) of at most `maximum` characters."""
    if len(value) > maximum:
        v.add(field, f"must be at most {maximum} characters")
    return value


def identifier(v: Violations, field: str, value: str, *, required: bool = True) -> str:
    """An entity id: non-empty when required, 1 to 128 characters of [A-Za-z0-9_-]."""
    if not value:
        if required:
            v.add(field, "is required")
        return value
    if not ID.fullmatch(value):
        v.add(field, ID_RULE)
    return value


def identifiers(v: Violations, field: str, values: Collection[str], maximum: int) -> None:
    """At most `maximum` ids, each a valid id."""
    if len(values) > maximum:
        v.add(field, f"must hold at most {maximum} ids")
    if not all(ID.fullmatch(value) for value in values):
        v.add(field, f"each id {ID_RULE}")


def stream_id(v: Violations, field: str, value: str) -> str:
    """An event id "<ms>" or "<ms>-<seq>", each part below 2^64, as "<ms>-<seq>"; or empty."""
    match = STREAM_ID.fullmatch(value)
    parts = [int(p or 0) for p in match.groups()] if match else []
    if value and (match is None or any(p > STREAM_PART_MAX for p in parts)):
        v.add(field, 'must be a stream id such as "1700000000000-0"')
        return value
    return f"{parts[0]}-{parts[1]}" if parts else ""


CATEGORY_PATHS = frozenset({"name", "description", "parent_id"})


def category_changes(v: Violations, draft: Category, paths: Iterable[str]) -> dict[str, str]:
    """The category fields for the update-mask `paths`, each checked; others ignored."""
    checks: dict[str, Callable[[], str]] = {
        "name": lambda: text_field(
            v, "category.name", draft.name, required=True, maximum=CATEGORY_NAME_MAX
        ),
        "description": lambda: description(
            v, "category.description", draft.description, CATEGORY_DESCRIPTION_MAX
        ),
        "parent_id": lambda: identifier(v, "category.parent_id", draft.parent_id, required=False),
    }
    return {path: checks[path]() for path in sorted(paths) if path in checks}


def category(v: Violations, draft: Category) -> Category:
    """A new category's fields, checked and trimmed."""
    return Category(id=draft.id, **category_changes(v, draft, CATEGORY_PATHS))


def require_id(field: str, value: str) -> None:
    """INVALID_FIELD unless `value` looks like an id."""
    v = Violations()
    identifier(v, field, value)
    v.raise_if_any()


def request_id(v: Violations, value: str) -> str:
    """An optional idempotency key of at most 128 printable characters."""
    if len(value) > REQUEST_ID_MAX or _CONTROL.search(value):
        v.add("request_id", f"must be at most {REQUEST_ID_MAX} printable characters")
    return value


def update_mask(v: Violations, paths: Iterable[str], allowed: frozenset[str]) -> frozenset[str]:
    """The mask's paths; every one must be an allowed path, and there must be at least one."""
    chosen = frozenset(paths)
    if not chosen:
        v.add("update_mask", "must name at least one field")
    for path in sorted(chosen - allowed):
        v.add("update_mask", f"{path!r} cannot be changed (allowed: {', '.join(sorted(allowed))})")
    return chosen

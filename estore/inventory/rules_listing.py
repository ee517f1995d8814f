"""ListProducts rules: order_by (AIP-132), filter limits, and page tokens bound to the query."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from estore.common.errors import InvalidArgument
from estore.common.paging import PageTokens
from estore.inventory import rules_fields
from estore.inventory.models import ProductFilter, ProductOrder, SortField
from estore.inventory.rules_fields import Violations
from estore.inventory.rules_words import name_words, split_words
from estore.inventory.store_catalog import CatalogQuery, Cursor

_FIELDS = {f.value: f for f in SortField}


def parse_order_by(order_by: str) -> ProductOrder:
    """ "created_at", "price" or "name", optionally followed by " desc" (or " asc")."""
    words = order_by.split()
    if not words:
        return ProductOrder()
    field = _FIELDS.get(words[0])
    direction = words[1].lower() if len(words) == 2 else "asc"
    if field is None or len(words) > 2 or direction not in ("asc", "desc"):
        raise InvalidArgument.field(
            "order_by", 'must be "created_at", "price" or "name", optionally followed by " desc"'
        )
    return ProductOrder(field, descending=direction == "desc")


def catalog_query(f: ProductFilter, order: ProductOrder, currency: str) -> CatalogQuery:
    """The filter checked against the proto's limits, in index terms."""
    v = Violations()
    rules_fields.identifier(v, "filter.category_id", f.category_id, required=False)
    tags = rules_fields.tags(v, "filter.tags", f.tags)
    low = (
        None
        if f.min_price is None
        else rules_fields.money_minor(v, "filter.min_price", f.min_price, currency)
    )
    high = (
        None
        if f.max_price is None
        else rules_fields.money_minor(v, "filter.max_price", f.max_price, currency)
    )
    if low is not None and high is not None and high < low:
        v.add("filter.max_price", "must not be below min_price")
    words = name_words(f.query)
    if (
        len(f.query) > rules_fields.QUERY_MAX
        or len(split_words(f.query)) > rules_fields.QUERY_WORDS_MAX
    ):
        v.add("filter.query", "must be at most 200 characters and 10 words")
    v.raise_if_any()
    return CatalogQuery(
        order=order,
        category_id=f.category_id,
        subcategories=f.include_subcategories and bool(f.category_id),
        tags=tuple(sorted(tags)),
        words=tuple(words),
        min_price=low,
        max_price=high,
        in_stock=f.in_stock,
        low_stock=f.low_stock,
    )


def query_scope(query: CatalogQuery) -> str:
    """A canonical text of the filter and order, to which page tokens are bound."""
    return json.dumps(
        {
            "category": [query.category_id] if query.category_id else [],
            "subcategories": query.subcategories,
            "tags": list(query.tags),
            "words": list(query.words),
            "price": [query.min_price, query.max_price],
            "in_stock": query.in_stock,
            "low_stock": query.low_stock,
            "order": [query.order.field.value, query.order.descending],
        },
        sort_keys=True,
    )


def _token_error() -> InvalidArgument:
    return InvalidArgument.field(
        "page_token",
        "is not a token this server issued for this query",
        reason="INVALID_PAGE_TOKEN",
    )


def cursor_from(data: dict[str, Any] | None) -> Cursor | None:
    """The index cursor a decoded page token holds."""
    if data is None:
        return None
    score, member = data.get("s"), data.get("m")
    if not isinstance(score, str) or not isinstance(member, str) or not member:
        raise _token_error()
    return Cursor(score, member)


def cursor_data(cursor: Cursor) -> dict[str, Any]:
    """What a page token holds for an index cursor."""
    return {"s": cursor.score, "m": cursor.member}


class PageTokenSource:
    """PageTokens with the configured secret, or with one shared through Redis, made once."""

    def __init__(self, configured: str | None, shared: Callable[[], Awaitable[bytes]]) -> None:
        self._tokens = PageTokens(configured.encode()) if configured else None
        self._shared = shared

    async def tokens(self) -> PageTokens:
        """The page-token codec (fetching the shared secret on first use)."""
        if self._tokens is None:
            self._tokens = PageTokens(await self._shared())
        return self._tokens

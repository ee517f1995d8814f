"""ListProducts from the indexes: one Lua script call per page, whatever the catalogue's size."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from estore.common.redis import text
from estore.inventory import keys
from estore.inventory.models import ProductOrder, SortField
from estore.inventory.redis_errors import store_errors
from estore.inventory.scripts import Scripts


@dataclass(frozen=True)
class CatalogQuery:
    """A normalised ListProducts query in index terms; empty fields do not filter."""

    order: ProductOrder = field(default_factory=ProductOrder)
    category_ids: tuple[str, ...] = ()  # the category, plus its subtree when asked
    tags: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    low_stock: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's index score and member."""

    score: str
    member: str


@dataclass(frozen=True)
class IndexPage:
    """Product ids of one page, in order, and the cursor of the next page (None: last page)."""

    product_ids: list[str] = field(default_factory=list)
    next_cursor: Cursor | None = None


def _order_keys(order: ProductOrder) -> tuple[str, str, str]:
    """The flavour, order index and price index for an order."""
    if order.field is SortField.NAME:
        return keys.NAME, keys.BY_NAME, keys.BY_PRICE_NAMED
    index = keys.BY_PRICE if order.field is SortField.PRICE else keys.BY_CREATED
    return keys.ID, index, keys.BY_PRICE


def _filter_sets(query: CatalogQuery, flavour: str) -> list[str]:
    sets = [keys.with_tag(flavour, tag) for tag in query.tags]
    sets += [keys.with_word(flavour, word) for word in query.words]
    if query.in_stock:
        sets.append(keys.in_stock(flavour))
    if query.low_stock:
        sets.append(keys.low_stock(flavour))
    return sets


@store_errors
class CatalogIndex:
    """Reads pages of product ids from the sorted-set and set indexes."""

    def __init__(self, redis: Redis, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    async def page(self, query: CatalogQuery, cursor: Cursor | None, size: int) -> IndexPage:
        """Up to `size` matching product ids after `cursor`, in the query's order."""
        flavour, order_index, price_index = _order_keys(query.order)
        categories = [keys.in_category(flavour, c) for c in query.category_ids]
        has_price = query.min_price is not None or query.max_price is not None
        script_keys = [
            order_index,
            price_index,
            *keys.scratch(3),
            *categories,
            *_filter_sets(query, flavour),
        ]
        args = [
            "lex" if flavour == keys.NAME else "score",
            "desc" if query.order.descending else "asc",
            size,
            "1" if cursor else "0",
            cursor.score if cursor else "",
            cursor.member if cursor else "",
            "1" if has_price else "0",
            "-inf" if query.min_price is None else query.min_price,
            "+inf" if query.max_price is None else query.max_price,
            len(categories),
        ]
        reply = await self._scripts.list_products(keys=script_keys, args=args)
        rows = [text(value) for value in reply[1:]]
        members, scores = rows[0::2], rows[1::2]
        ids = [m.rpartition("\0")[2] for m in members]
        more = int(reply[0]) == 1 and bool(members)
        return IndexPage(ids, Cursor(scores[-1], members[-1]) if more else None)

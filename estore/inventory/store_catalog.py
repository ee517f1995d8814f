"""ListProducts from the indexes: one bounded script call per page, whatever the catalogue's size.

The script (lua/list_products.lua) plans each page from the filters' sizes: every category, tag
and word set is kept as a sorted set in each order, so it walks the smallest ordered source from
the cursor (the order index, a filter, the price bands of a price range, or a small subtree's
categories merged) and tests each row against the rest. It examines at most `row_budget` rows,
so a sparse combination of filters over a large catalogue gives short pages (even empty ones)
whose cursor continues the scan; only the last page has no cursor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.models import ProductOrder, SortField
from estore.inventory.store_categories import CategoryStore
from estore.inventory.store_errors import store_errors
from estore.inventory.store_scripts import Scripts

# Rows one page may examine: about a millisecond of Redis time, so that a sparse filter never
# holds up the stock scripts behind it (Redis runs one script at a time).
DEFAULT_ROW_BUDGET = 2000
# A subtree of at most this many categories is walked as its categories' sets merged in order;
# a larger one is tested row by row through each product's category and the tree's parents.
SUBTREE_MERGE_MAX = 200
# A price range over more price bands than this is tested row by row instead.
PRICE_BANDS_MAX = 24


@dataclass(frozen=True)
class CatalogQuery:
    """A normalised ListProducts query in index terms; empty fields do not filter."""

    order: ProductOrder = field(default_factory=ProductOrder)
    category_id: str = ""
    subcategories: bool = False  # with category_id: its whole subtree
    tags: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    low_stock: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the index score and member of the last row it returned or examined."""

    score: str
    member: str


@dataclass(frozen=True)
class IndexPage:
    """Product ids of one page, in order, and the cursor of the next page (None: last page)."""

    product_ids: list[str] = field(default_factory=list)
    next_cursor: Cursor | None = None
    plan: str = ""  # how the script read it: "walk order", "walk filter", "merge subtree",
    # "merge bands", "enumerate" or "empty"
    examined: int = 0  # rows it examined


@dataclass(frozen=True)
class _Subtree:
    """How a page finds a category's subtree: a root to test rows against, and maybe its sets."""

    root: str = ""
    products: int = 0
    sets: tuple[str, ...] = ()


def _order_keys(order: ProductOrder) -> tuple[str, str, str]:
    """The flavour, order index and price index for an order."""
    if order.field is SortField.NAME:
        return store_keys.NAME, store_keys.BY_NAME, store_keys.BY_PRICE_NAMED
    if order.field is SortField.PRICE:
        return store_keys.PRICED, store_keys.BY_PRICE, store_keys.BY_PRICE
    return store_keys.CREATED, store_keys.BY_CREATED, store_keys.BY_PRICE


def _filter_sets(query: CatalogQuery, flavour: str) -> tuple[list[str], str]:
    """The filter sets of a query and their kinds: "z" sorted in the page's order (walkable),
    "s" a plain set of ids (the stock sets of the id orders: tested only)."""
    sets = [store_keys.with_tag(flavour, tag) for tag in query.tags]
    sets += [store_keys.with_word(flavour, word) for word in query.words]
    kinds = "z" * len(sets)
    stock_flavour, stock_kind = (
        (flavour, "z") if flavour == store_keys.NAME else (store_keys.ID, "s")
    )
    if query.in_stock:
        sets.append(store_keys.in_stock(stock_flavour))
        kinds += stock_kind
    if query.low_stock:
        sets.append(store_keys.low_stock(stock_flavour))
        kinds += stock_kind
    return sets, kinds


def _order_args(query: CatalogQuery, cursor: Cursor | None, size: int) -> list[str | int]:
    """ARGV 1-9 of list_products.lua: the order, the page, the cursor and the price range."""
    return [
        "lex" if query.order.field is SortField.NAME else "score",
        "desc" if query.order.descending else "asc",
        size,
        "1" if cursor else "0",
        cursor.score if cursor else "",
        cursor.member if cursor else "",
        "0" if query.min_price is None and query.max_price is None else "1",
        "-inf" if query.min_price is None else query.min_price,
        "+inf" if query.max_price is None else query.max_price,
    ]


@store_errors
class CatalogIndex:
    """Reads pages of product ids from the sorted-set and set indexes."""

    def __init__(
        self,
        redis: RedisClient,
        scripts: Scripts,
        categories: CategoryStore,
        *,
        row_budget: int = DEFAULT_ROW_BUDGET,
        layout_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if row_budget < 1:
            raise ValueError("row_budget must be at least 1")
        self._redis = redis
        self._scripts = scripts
        self._categories = categories
        self._row_budget = row_budget
        self._layout_ready = layout_ready

    async def page(self, query: CatalogQuery, cursor: Cursor | None, size: int) -> IndexPage:
        """Up to `size` matching product ids after `cursor`, in the query's order."""
        if self._layout_ready is not None:
            await self._layout_ready()
        flavour, order_index, price_index = _order_keys(query.order)
        sets, kinds = _filter_sets(query, flavour)
        subtree = None
        if query.category_id and query.subcategories:
            subtree = await self._subtree(query.category_id, flavour)
        if query.category_id and subtree is None:  # no subtree asked, or a leaf
            sets.insert(0, store_keys.in_category(flavour, query.category_id))
            kinds = "z" + kinds
        subtree = subtree or _Subtree()
        bands = await self._price_bands(query) if flavour == store_keys.CREATED else []
        script_keys = [
            order_index,
            price_index,
            store_keys.CATEGORY_OF,
            store_keys.CATEGORY_PARENTS,
            *sets,
            *subtree.sets,
            *bands,
        ]
        args = [
            *_order_args(query, cursor, size),
            len(sets),
            len(subtree.sets),
            subtree.root,
            subtree.products,
            self._row_budget,
            len(bands),
            kinds,
            "1" if query.order.field is SortField.PRICE else "0",
        ]
        reply = await self._scripts.list_products(keys=script_keys, args=args)
        more, score, member, plan, examined = (text(value) for value in reply[:5])
        if query.order.field is SortField.NAME:  # members are "<name>\0<id>"
            ids = [text(m).rpartition("\0")[2] for m in reply[5:]]
        else:
            ids = [m.decode() for m in reply[5:]]
        next_cursor = Cursor(score, member) if more == "1" else None
        return IndexPage(ids, next_cursor, plan, int(examined))

    async def _subtree(self, category_id: str, flavour: str) -> _Subtree | None:
        """None for a leaf (its own set); a small subtree's sets are merged; a large one tested."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(store_keys.SUBTREE_PRODUCTS, category_id)
            pipe.zcard(store_keys.children(category_id))
            products, children = await pipe.execute()
        if not children:
            return None
        count = int(products or 0)
        categories = await self._categories.subtree(category_id, limit=SUBTREE_MERGE_MAX)
        if len(categories) > SUBTREE_MERGE_MAX:
            return _Subtree(category_id, count)
        sets = tuple(store_keys.in_category(flavour, c) for c in categories)
        return _Subtree(category_id, count, sets)

    async def _price_bands(self, query: CatalogQuery) -> list[str]:
        """The price bands a price range spans, when they are few enough to merge."""
        if query.min_price is None and query.max_price is None:
            return []
        high = query.max_price
        if high is None:  # up to the dearest product
            dearest = await self._redis.zrange(store_keys.BY_PRICE, -1, -1, withscores=True)
            high = int(dearest[0][1]) if dearest else 0
        first, last = store_keys.band_of(query.min_price or 0), store_keys.band_of(high)
        if last - first >= PRICE_BANDS_MAX:
            return []
        return [store_keys.price_band(band) for band in range(first, last + 1)]

"""The near cache's listing pages: which products a ListProducts page holds, by query and cursor.

A page's ids and next token depend on the listing indexes, which change only with a product's
event (created, updated, deleted: any page may change) or, for the in-stock and low-stock
filters, with a stock event. So every page is forgotten on a product event, and the pages that
filter by stock on a stock event as well. Pages that filter by category are never kept: category
changes emit no event, and a moved category changes what its subtree lists. A page read from
Redis is kept only if no event that could change it arrived while that read was in flight.
ProductCache (cache_products.py) drives this one and decides when it may be served.
"""

from __future__ import annotations

from collections.abc import Hashable

# Pages kept: each is a page's ids and token, a few KiB at most.
MAX_PAGES = 1000

PageKey = tuple[str, Hashable, int]  # query scope, cursor, page size
Page = tuple[list[str], str]  # the page's product ids, its next page token
Ticket = tuple[int, int]


class PageCache:
    """Listing pages by query, cursor and size; forgotten when an event could change them."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._max_pages = max_pages
        self._plain: dict[PageKey, Page] = {}  # pages that do not filter by stock
        self._by_stock: dict[PageKey, Page] = {}  # pages with in_stock or low_stock
        self._index_changes = 0
        self._stock_changes = 0

    def __len__(self) -> int:
        return len(self._plain) + len(self._by_stock)

    def get(self, key: PageKey, *, by_stock: bool) -> Page | None:
        """The kept page, or None."""
        return (self._by_stock if by_stock else self._plain).get(key)

    def ticket(self) -> Ticket:
        """Taken before reading a page from Redis, and handed back to `keep`."""
        return self._index_changes, self._stock_changes

    def keep(self, key: PageKey, page: Page, *, by_stock: bool, ticket: Ticket) -> None:
        """Keep a page read from Redis, unless an event that could change it came meanwhile."""
        index_changes, stock_changes = ticket
        if index_changes != self._index_changes or (
            by_stock and stock_changes != self._stock_changes
        ):
            return
        pages = self._by_stock if by_stock else self._plain
        if key not in pages and len(self) >= self._max_pages:
            oldest = self._plain or self._by_stock
            del oldest[next(iter(oldest))]
        pages[key] = page

    def index_changed(self) -> None:
        """A product was created, updated or deleted (or anything may have changed)."""
        self._index_changes += 1
        self._plain.clear()
        self._by_stock.clear()

    def stock_changed(self) -> None:
        """A product's stock changed: the in-stock and low-stock sets may have."""
        self._stock_changes += 1
        self._by_stock.clear()

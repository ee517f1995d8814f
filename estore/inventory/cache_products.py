"""The near cache: each product's serialized message by id, in this Inventory process, and
the ids of listing pages (cache_pages.py).

An entry is dropped when the product changes: at once for writes made through this process,
and within the event reader's lag for everyone else's (task_event_feed.py hands every event of
the stream to `events_seen`). An entry is served only while that reader is live and caught up
with the stream: after a failure it is emptied, and while the reader has not reached the end of
the stream within `max_lag` seconds every read goes to Redis.

A read that misses fills the entry from Redis, unless the product was dropped while that read
was in flight (its answer may predate the change): each drop takes a number from a counter, and
a fill that started before the product's last drop is not kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from estore.inventory.cache_pages import Page, PageCache, PageKey, Ticket
from estore.inventory.models import EventType, InventoryEvent, Product

# Products kept by default (ESTORE_INVENTORY_CACHE_PRODUCTS); 0 turns the cache off.
DEFAULT_MAX_PRODUCTS = 10_000
# Served only while the reader reached the end of the stream this recently: XREAD blocks for
# at most a second (store_events.BLOCK_MS), so a healthy reader comes back at least that often.
DEFAULT_MAX_LAG_SECONDS = 2.0
# Drops remembered one by one; past this they are forgotten and every fill in flight refused.
_DROPS_KEPT = 4096

Encode = Callable[[Product], bytes]
_STOCK_EVENTS = frozenset({EventType.STOCK_CHANGED, EventType.LOW_STOCK})


class ProductCache:
    """Serialized products by id, bounded, served only while the event reader is caught up."""

    def __init__(
        self,
        encode: Encode,
        *,
        max_products: int = DEFAULT_MAX_PRODUCTS,
        max_lag: float = DEFAULT_MAX_LAG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_products < 0:
            raise ValueError("max_products must not be negative")
        self._encode = encode
        self._max_products = max_products
        self._max_lag = max_lag
        self._clock = clock
        self._entries: dict[str, bytes] = {}
        # Drops so far: a fill's ticket is this count when it started, so a drop numbered above
        # the ticket happened while the fill's read was in flight.
        self._drops = 0
        self._dropped_at: dict[str, int] = {}  # product id -> its last drop's number
        self._floor = 0  # fills with an older ticket are refused (drops forgotten, or cleared)
        self._caught_up_at: float | None = None  # when the reader last reached the stream's end
        self._pages = PageCache()

    def __len__(self) -> int:
        return len(self._entries)

    def live(self) -> bool:
        """Whether entries may be served: the reader reached the stream's end within max_lag."""
        at = self._caught_up_at
        return at is not None and self._clock() - at <= self._max_lag

    def get(self, product_id: str) -> bytes | None:
        """The product's serialized message, or None (not cached, or not to be trusted now)."""
        if not self.live():
            return None
        return self._entries.get(product_id)

    def get_many(self, product_ids: Iterable[str]) -> dict[str, bytes]:
        """The cached products among `product_ids` (none when not to be trusted now)."""
        if not self.live():
            return {}
        entries = self._entries
        return {pid: entries[pid] for pid in product_ids if pid in entries}

    def ticket(self) -> int:
        """Taken before reading products from Redis, and handed back to `fill`."""
        return self._drops

    def fill(self, product: Product, ticket: int) -> bytes:
        """The product serialized; kept unless it was dropped since `ticket` was taken."""
        entry = self._encode(product)
        if (
            self._max_products
            and self._caught_up_at is not None
            and ticket >= self._floor
            and self._dropped_at.get(product.id, 0) <= ticket
        ):
            if product.id not in self._entries and len(self._entries) >= self._max_products:
                del self._entries[next(iter(self._entries))]  # the oldest kept
            self._entries[product.id] = entry
        return entry

    def drop(self, product_id: str) -> None:
        """Forget the product (it changed, or may have)."""
        self._drops += 1
        self._entries.pop(product_id, None)
        if len(self._dropped_at) >= _DROPS_KEPT:
            self._dropped_at.clear()
            self._floor = self._drops
        self._dropped_at[product_id] = self._drops

    def product_changed(self, product_id: str) -> None:
        """A product's fields changed (or it was created or deleted): forget it and the pages."""
        self.drop(product_id)
        self._pages.index_changed()

    def stock_changed(self, product_id: str) -> None:
        """A product's stock changed: forget it and the pages that filter by stock."""
        self.drop(product_id)
        self._pages.stock_changed()

    def events_seen(self, events: Iterable[InventoryEvent]) -> None:
        """The reader read these events: forget what they may have changed."""
        for event in events:
            if event.type in _STOCK_EVENTS:
                self.stock_changed(event.product_id)
            else:
                self.product_changed(event.product_id)

    def page(self, key: PageKey, *, by_stock: bool) -> Page | None:
        """A listing page's ids and next token, or None (not kept, or not to be trusted now)."""
        if not self.live():
            return None
        return self._pages.get(key, by_stock=by_stock)

    def page_ticket(self) -> Ticket:
        """Taken before reading a page from Redis, and handed back to `keep_page`."""
        return self._pages.ticket()

    def keep_page(self, key: PageKey, page: Page, *, by_stock: bool, ticket: Ticket) -> None:
        """Keep a page read from Redis (see cache_pages.py), while the reader follows."""
        if self._max_products and self._caught_up_at is not None:
            self._pages.keep(key, page, by_stock=by_stock, ticket=ticket)

    def caught_up(self, seconds_ago: float = 0.0) -> None:
        """The reader has read everything the stream held `seconds_ago` (or later)."""
        if self._caught_up_at is None:  # reads begun before the reader followed are not kept
            self._drops += 1
            self._floor = self._drops
            self._pages.index_changed()
        at = self._clock() - seconds_ago
        if self._caught_up_at is None or at > self._caught_up_at:
            self._caught_up_at = at

    def lost(self) -> None:
        """The reader failed or stopped (events may be missed): empty, and serve nothing."""
        self._caught_up_at = None
        self._drops += 1
        self._floor = self._drops
        self._entries.clear()
        self._dropped_at.clear()
        self._pages.index_changed()

"""The near cache: bounded, dropped on change, never keeping a read that a change overtook,
and serving nothing while the event reader is not caught up."""

from __future__ import annotations

from dataclasses import replace

from estore.inventory.cache_pages import MAX_PAGES
from estore.inventory.cache_products import ProductCache
from estore.inventory.models import EventType, InventoryEvent, Product

PRODUCT = Product(
    id="p1", name="Kettle", price_minor=1999, quantity=5, reserved=1, sold=0, added=6,
    created_by=1, category_id="", description="", tags=("tea",), image_url="",
    min_stock_level=0, discount_percentage=10, created_at=1000, updated_at=None, rev=0,
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _event(kind: EventType, product_id: str) -> InventoryEvent:
    return InventoryEvent("1-0", kind, product_id, 5, 1, -1, "", 0)


def _encode(product: Product) -> bytes:
    return f"{product.id}:{product.name}:{product.quantity}".encode()


def _live_cache(max_products: int = 10, clock: Clock | None = None) -> ProductCache:
    cache = ProductCache(_encode, max_products=max_products, max_lag=2.0, clock=clock or Clock())
    cache.caught_up()
    return cache


def _filled(cache: ProductCache, product: Product) -> bytes:
    return cache.fill(product, cache.ticket())


def test_a_filled_product_is_served_until_dropped() -> None:
    cache = _live_cache()
    assert cache.get("p1") is None
    assert _filled(cache, PRODUCT) == b"p1:Kettle:5"
    assert cache.get("p1") == b"p1:Kettle:5"
    assert cache.get_many(["p1", "p2"]) == {"p1": b"p1:Kettle:5"}
    cache.events_seen([_event(EventType.STOCK_CHANGED, "p1")])
    assert cache.get("p1") is None


def test_the_cache_is_bounded() -> None:
    cache = _live_cache(max_products=3)
    for n in range(10):
        _filled(cache, replace(PRODUCT, id=f"p{n}"))
    assert len(cache) == 3
    assert sorted(cache.get_many([f"p{n}" for n in range(10)])) == ["p7", "p8", "p9"]


def test_a_size_of_zero_keeps_nothing() -> None:
    cache = _live_cache(max_products=0)
    assert _filled(cache, PRODUCT) == b"p1:Kettle:5"
    assert len(cache) == 0


def test_a_read_overtaken_by_a_change_is_not_kept() -> None:
    cache = _live_cache()
    ticket = cache.ticket()  # a read from Redis starts...
    cache.drop("p1")  # ...the product changes meanwhile (its event, or a write here)...
    cache.fill(PRODUCT, ticket)  # ...and the read's older answer arrives
    assert cache.get("p1") is None
    assert _filled(cache, PRODUCT) == b"p1:Kettle:5"  # a read begun after the change is kept
    assert cache.get("p1") == b"p1:Kettle:5"


def test_other_products_changing_meanwhile_do_not_stop_a_fill() -> None:
    cache = _live_cache()
    ticket = cache.ticket()
    cache.drop("p2")
    cache.fill(PRODUCT, ticket)
    assert cache.get("p1") == b"p1:Kettle:5"


def test_when_too_many_drops_are_remembered_reads_in_flight_are_not_kept() -> None:
    cache = _live_cache()
    ticket = cache.ticket()
    for n in range(5000):
        cache.drop(f"other-{n}")
    cache.fill(PRODUCT, ticket)
    assert cache.get("p1") is None


def test_nothing_is_served_while_the_reader_lags_or_after_it_failed() -> None:
    clock = Clock()
    cache = _live_cache(clock=clock)
    _filled(cache, PRODUCT)
    clock.now += 2.5  # the reader has not reached the stream's end for longer than max_lag
    assert cache.get("p1") is None
    assert cache.get_many(["p1"]) == {}
    cache.caught_up()
    assert cache.get("p1") == b"p1:Kettle:5"
    cache.lost()
    assert (cache.get("p1"), len(cache)) == (None, 0)


def test_reads_before_the_reader_follows_are_not_kept() -> None:
    cache = ProductCache(_encode, max_lag=2.0, clock=Clock())
    early = cache.ticket()
    _filled(cache, PRODUCT)  # nobody follows the stream yet: not kept
    assert len(cache) == 0
    cache.caught_up()
    cache.fill(PRODUCT, early)  # begun before the reader followed: may predate a missed event
    assert cache.get("p1") is None
    _filled(cache, PRODUCT)
    assert cache.get("p1") == b"p1:Kettle:5"


PLAIN_PAGE = ("scope", None, 50)
STOCK_PAGE = ("scope in stock", None, 50)


def _keep(cache: ProductCache, key: tuple[str, None, int], by_stock: bool) -> None:
    cache.keep_page(key, (["p1"], "token"), by_stock=by_stock, ticket=cache.page_ticket())


def test_pages_go_with_product_events_and_stock_pages_with_stock_events() -> None:
    cache = _live_cache()
    _keep(cache, PLAIN_PAGE, by_stock=False)
    _keep(cache, STOCK_PAGE, by_stock=True)
    assert cache.page(PLAIN_PAGE, by_stock=False) == (["p1"], "token")
    cache.events_seen([_event(EventType.STOCK_CHANGED, "p9")])
    assert cache.page(STOCK_PAGE, by_stock=True) is None  # in stock may have changed
    assert cache.page(PLAIN_PAGE, by_stock=False) == (["p1"], "token")
    cache.events_seen([_event(EventType.PRODUCT_CREATED, "p9")])
    assert cache.page(PLAIN_PAGE, by_stock=False) is None  # any page may hold it now


def test_a_page_read_while_an_event_came_is_not_kept() -> None:
    cache = _live_cache()
    ticket = cache.page_ticket()
    cache.product_changed("p9")
    cache.keep_page(PLAIN_PAGE, (["p1"], ""), by_stock=False, ticket=ticket)
    assert cache.page(PLAIN_PAGE, by_stock=False) is None
    ticket = cache.page_ticket()
    cache.stock_changed("p9")  # does not change a page that ignores stock
    cache.keep_page(PLAIN_PAGE, (["p1"], ""), by_stock=False, ticket=ticket)
    assert cache.page(PLAIN_PAGE, by_stock=False) == (["p1"], "")


def test_pages_are_bounded_and_not_served_while_the_reader_is_not_live() -> None:
    clock = Clock()
    cache = _live_cache(clock=clock)
    for n in range(MAX_PAGES + 5):
        _keep(cache, (f"scope {n}", None, 50), by_stock=n % 2 == 0)
    assert (
        sum(
            cache.page((f"scope {n}", None, 50), by_stock=n % 2 == 0) is not None
            for n in range(MAX_PAGES + 5)
        )
        == MAX_PAGES
    )
    _keep(cache, PLAIN_PAGE, by_stock=False)
    clock.now += 3
    assert cache.page(PLAIN_PAGE, by_stock=False) is None
    cache.lost()
    cache.caught_up()
    assert cache.page(PLAIN_PAGE, by_stock=False) is None  # emptied when the reader failed


def test_the_window_counts_from_when_the_reader_s_answer_held_the_stream() -> None:
    clock = Clock()
    cache = _live_cache(clock=clock)
    _filled(cache, PRODUCT)
    cache.caught_up(seconds_ago=1.5)  # an answer handled late never moves the window back
    clock.now += 1.9
    assert cache.get("p1") is not None
    cache.caught_up(seconds_ago=1.5)  # the stream as it was 0.4 s after the first
    clock.now += 0.5
    assert cache.get("p1") is not None  # 2.0 s since then
    clock.now += 0.05
    assert cache.get("p1") is None

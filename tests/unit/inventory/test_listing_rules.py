"""ListProducts rules without Redis: order_by, filter limits, and page-token scopes."""

from __future__ import annotations

from typing import Any

import pytest

from estore.common.errors import InvalidArgument
from estore.inventory.errors import CurrencyMismatch
from estore.inventory.models import Money, ProductFilter, ProductOrder, SortField
from estore.inventory.rules_listing import catalog_query, cursor_from, parse_order_by, query_scope


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", ProductOrder(SortField.CREATED_AT)),
        ("price", ProductOrder(SortField.PRICE)),
        ("  name   desc ", ProductOrder(SortField.NAME, descending=True)),
        ("created_at asc", ProductOrder(SortField.CREATED_AT)),
        ("price DESC", ProductOrder(SortField.PRICE, descending=True)),
    ],
)
def test_order_by_follows_aip_132(text: str, order: ProductOrder) -> None:
    assert parse_order_by(text) == order


@pytest.mark.parametrize("text", ["popularity", "price,name", "price desc extra", "desc", "Price"])
def test_bad_order_by_is_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_order_by(text)
    assert [v.field for v in caught.value.violations] == ["order_by"]


def test_filter_is_normalised() -> None:
    query = catalog_query(
        ProductFilter(tags=(" Red", "red", "BIG"), query="Big, RED shoes!", in_stock=True),
        ProductOrder(),
        "USD",
    )
    assert query.tags == ("big", "red")
    assert query.words == ("big", "red", "shoes")
    assert query.in_stock
    assert not query.low_stock


def test_equivalent_filters_share_a_scope_and_different_ones_do_not() -> None:
    def scope(f: ProductFilter, order: str = "price") -> str:
        return query_scope(catalog_query(f, parse_order_by(order), "USD"))

    assert scope(ProductFilter(tags=("a", "b"))) == scope(ProductFilter(tags=("B", "a")))
    assert scope(ProductFilter(query="x y")) == scope(ProductFilter(query="Y, x"))
    assert scope(ProductFilter()) != scope(ProductFilter(), "price desc")
    assert scope(ProductFilter(category_id="c")) != scope(
        ProductFilter(category_id="c", include_subcategories=True)
    )
    assert scope(ProductFilter(min_price=Money("USD", 1))) != scope(
        ProductFilter(max_price=Money("USD", 1))
    )


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (ProductFilter(min_price=Money("USD", 5), max_price=Money("USD", 4)), "filter.max_price"),
        (ProductFilter(query="w " * 11), "filter.query"),
        (ProductFilter(query="x" * 201), "filter.query"),
        (ProductFilter(tags=("",)), "filter.tags"),
        (ProductFilter(category_id="bad\nid"), "filter.category_id"),
    ],
)
def test_bad_filters_are_invalid(f: ProductFilter, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        catalog_query(f, ProductOrder(), "USD")
    assert field in {v.field for v in caught.value.violations}


def test_price_in_another_currency_is_a_mismatch() -> None:
    with pytest.raises(CurrencyMismatch):
        catalog_query(ProductFilter(min_price=Money("EUR", 1)), ProductOrder(), "USD")


@pytest.mark.parametrize("data", [{}, {"s": 1, "m": "x"}, {"s": "1", "m": ""}, {"m": "x"}])
def test_malformed_cursor_is_an_invalid_page_token(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        cursor_from(data)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"

"""Product and category field rules, without Redis."""

from __future__ import annotations

from typing import Any

import pytest

from estore.common.errors import InvalidArgument
from estore.inventory import rules_fields
from estore.inventory.codec_redis import sort_member
from estore.inventory.models import Category, Money, NewProduct, ProductFields
from estore.inventory.rules_fields import Violations
from estore.inventory.rules_words import name_words


def _fields(**changes: Any) -> ProductFields:
    draft = NewProduct(**{"name": "Widget", "price": Money("usd", 100), **changes})
    v = Violations()
    fields = rules_fields.product_fields(v, draft, "USD")
    v.raise_if_any()
    return fields


def test_product_fields_are_trimmed_and_normalised() -> None:
    fields = _fields(name="  Widget  ", tags=(" Big", "big", "Small "))
    assert fields.name == "Widget"
    assert fields.tags == ("big", "small")
    assert fields.price_minor == 100


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        _fields(name="", discount_percentage=101, image_url="javascript:alert(1)")
    assert {v.field for v in caught.value.violations} == {
        "product.name",
        "product.discount_percentage",
        "product.image_url",
    }


@pytest.mark.parametrize(
    "url",
    ["http://x.example/a.png", "https://cdn.example.com/p/1.jpg?size=2", ""],
)
def test_good_image_urls(url: str) -> None:
    assert _fields(image_url=url).image_url == url


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example/a", "https://", "/relative.png", "https://a b.example/", "x" * 2049],
)
def test_bad_image_urls(url: str) -> None:
    with pytest.raises(InvalidArgument):
        _fields(image_url=url)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "x" * 201},
        {"name": "tab\there"},
        {"price": Money("USD", rules_fields.PRICE_MAX_MINOR + 1)},
        {"tags": tuple(f"t{i}" for i in range(21))},
        {"min_stock_level": -1},
        {"category_id": " padded"},
    ],
)
def test_out_of_range_fields(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        _fields(**change)


def test_update_checks_only_the_masked_fields() -> None:
    v = Violations()
    draft = NewProduct(name="", price=Money("EUR", -5), discount_percentage=50)
    changes = rules_fields.product_changes(v, draft, {"discount_percentage"}, "USD")
    assert changes == {"discount_percentage": 50}
    assert v.found == []


def test_update_mask_rules() -> None:
    v = Violations()
    rules_fields.update_mask(v, [], rules_fields.PRODUCT_PATHS)
    rules_fields.update_mask(v, ["name", "quantity"], rules_fields.PRODUCT_PATHS)
    assert [f.field for f in v.found] == ["update_mask", "update_mask"]


def test_category_fields() -> None:
    v = Violations()
    checked = rules_fields.category(v, Category(id="", name="  Shoes ", parent_id=""))
    assert checked.name == "Shoes"
    assert v.found == []
    rules_fields.category(v, Category(id="", name="", description="d" * 1001))
    assert {f.field for f in v.found} == {"category.name", "category.description"}


def test_name_words_and_sort_members() -> None:
    assert name_words("Big-Red  shoe, big!") == ["big", "red", "shoe"]
    assert name_words("Ünïcode Straße 42") == ["42", "straße", "ünïcode"]
    assert name_words("snake_case") == ["case", "snake"]
    assert sort_member("Red Boot", "abc") == "red boot\0abc"


@pytest.mark.parametrize(
    "value", ["a", "0f3c9e", "order-7_B", "x" * 128, "00000000-0000-4000-8000-000000000000"]
)
def test_good_ids(value: str) -> None:
    v = Violations()
    rules_fields.identifier(v, "product_id", value)
    assert v.found == []


@pytest.mark.parametrize("value", ["abc:children", "a b", "a/b", "caf\u00e9", "{inv}", "x" * 129])
def test_ids_that_could_name_another_key_are_invalid(value: str) -> None:
    v = Violations()
    rules_fields.identifier(v, "category.parent_id", value, required=False)
    assert [f.field for f in v.found] == ["category.parent_id"]


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("", ""),
        ("0", "0-0"),
        ("0-0", "0-0"),
        ("1700000000000-3", "1700000000000-3"),
        ("0017-02", "17-2"),
        ("18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551615"),
    ],
)
def test_stream_ids_that_redis_accepts(value: str, normal: str) -> None:
    v = Violations()
    assert rules_fields.stream_id(v, "after_event_id", value) == normal
    assert v.found == []


@pytest.mark.parametrize(
    "value", ["18446744073709551616", "0-18446744073709551616", "1-", "-1", "1-2-3", "\u0661"]
)
def test_stream_ids_that_redis_rejects_are_invalid(value: str) -> None:
    v = Violations()
    rules_fields.stream_id(v, "after_event_id", value)
    assert [f.field for f in v.found] == ["after_event_id"]

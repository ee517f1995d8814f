"""Ids over gRPC: one that is not [A-Za-z0-9_-]{1,128} is INVALID_FIELD, never a Redis key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import Callers, expect_error, usd


@dataclass(frozen=True)
class Shop:
    """A category, a product in it, and a reservation of it: real ids to build bad ones from."""

    category_id: str
    product_id: str
    reservation_id: str


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


@pytest.fixture
async def shop(stub, callers: Callers, make_category, make_product) -> Shop:
    shoes = await make_category("Shoes")
    boot = await make_product("Boot", category_id=shoes.id, quantity=5)
    held = await stub.ReserveStock(
        pb.ReserveStockRequest(product_id=boot.id, quantity=1, reservation_id="order-1"),
        metadata=callers.service,
    )
    return Shop(shoes.id, boot.id, held.reservation.id)


Call = Callable[[Any, Callers, Shop, str], Awaitable[Any]]

# Each call gets `bad`, an existing id with a suffix that would name another key of it.
CALLS: list[tuple[str, Call]] = [
    ("category_id", lambda s, c, _, bad: s.GetCategory(pb.GetCategoryRequest(category_id=bad))),
    (
        "category_id",
        lambda s, c, _, bad: s.DeleteCategory(
            pb.DeleteCategoryRequest(category_id=bad), metadata=c.admin
        ),
    ),
    (
        "category.id",
        lambda s, c, _, bad: s.UpdateCategory(
            pb.UpdateCategoryRequest(
                category=pb.Category(id=bad, name="X"), update_mask=_mask("name")
            ),
            metadata=c.admin,
        ),
    ),
    (
        "category.parent_id",
        lambda s, c, _, bad: s.CreateCategory(
            pb.CreateCategoryRequest(category=pb.Category(name="Kids", parent_id=bad)),
            metadata=c.admin,
        ),
    ),
    (
        "parent_id",
        lambda s, c, _, bad: s.ListCategories(pb.ListCategoriesRequest(parent_id=bad)),
    ),
    (
        "product.category_id",
        lambda s, c, _, bad: s.CreateProduct(
            pb.CreateProductRequest(product=pb.Product(name="Sock", price=usd(1), category_id=bad)),
            metadata=c.admin,
        ),
    ),
    (
        "product.category_id",
        lambda s, c, shop, bad: s.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(id=shop.product_id, category_id=bad),
                update_mask=_mask("category_id"),
            ),
            metadata=c.admin,
        ),
    ),
    (
        "filter.category_id",
        lambda s, c, _, bad: s.ListProducts(
            pb.ListProductsRequest(filter=pb.ProductFilter(category_id=bad))
        ),
    ),
]


@pytest.mark.parametrize(("field", "call"), CALLS)
async def test_a_category_id_naming_another_key_is_invalid(
    stub, callers: Callers, shop: Shop, field: str, call: Call
) -> None:
    bad = f"{shop.category_id}:children"  # the category's children set exists in Redis
    details = await expect_error(
        call(stub, callers, shop, bad), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD"
    )
    assert details.violated_fields == {field}


async def test_the_category_update_moving_under_a_bad_parent_is_invalid(
    stub, callers: Callers, shop: Shop, make_category
) -> None:
    kids = await make_category("Kids")
    move = pb.UpdateCategoryRequest(
        category=pb.Category(id=kids.id, parent_id=f"{shop.category_id}:children"),
        update_mask=_mask("parent_id"),
    )
    details = await expect_error(
        stub.UpdateCategory(move, metadata=callers.admin),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"category.parent_id"}
    got = await stub.GetCategory(pb.GetCategoryRequest(category_id=kids.id))
    assert got.category.parent_id == ""  # not moved


PRODUCT_CALLS: list[tuple[str, Call]] = [
    ("product_id", lambda s, c, _, bad: s.GetProduct(pb.GetProductRequest(product_id=bad))),
    (
        "product_id",
        lambda s, c, _, bad: s.GetProductAnalytics(
            pb.GetProductAnalyticsRequest(product_id=bad), metadata=c.admin
        ),
    ),
    (
        "product_id",
        lambda s, c, _, bad: s.DeleteProduct(
            pb.DeleteProductRequest(product_id=bad), metadata=c.admin
        ),
    ),
    (
        "product.id",
        lambda s, c, _, bad: s.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(id=bad, name="X"), update_mask=_mask("name")
            ),
            metadata=c.admin,
        ),
    ),
    (
        "product_id",
        lambda s, c, _, bad: s.AdjustStock(
            pb.AdjustStockRequest(product_id=bad, delta=1), metadata=c.admin
        ),
    ),
    (
        "product_id",
        lambda s, c, _, bad: s.ReserveStock(
            pb.ReserveStockRequest(product_id=bad, quantity=1), metadata=c.service
        ),
    ),
    (
        "reservation_id",
        lambda s, c, shop, bad: s.ReserveStock(
            pb.ReserveStockRequest(product_id=shop.product_id, quantity=1, reservation_id=bad),
            metadata=c.service,
        ),
    ),
    (
        "reservation_id",
        lambda s, c, _, bad: s.CommitReservation(
            pb.CommitReservationRequest(reservation_id=bad), metadata=c.service
        ),
    ),
    (
        "reservation_id",
        lambda s, c, _, bad: s.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id=bad), metadata=c.service
        ),
    ),
]


@pytest.mark.parametrize(("field", "call"), PRODUCT_CALLS)
@pytest.mark.parametrize("suffix", [":x", " ", "\u00e9", "{inv}"])
async def test_a_product_or_reservation_id_outside_the_charset_is_invalid(
    stub, callers: Callers, shop: Shop, field: str, call: Call, suffix: str
) -> None:
    target = shop.reservation_id if field == "reservation_id" else shop.product_id
    details = await expect_error(
        call(stub, callers, shop, target + suffix),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {field}


async def test_an_id_of_129_characters_is_invalid(stub) -> None:
    details = await expect_error(
        stub.GetProduct(pb.GetProductRequest(product_id="a" * 129)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"product_id"}

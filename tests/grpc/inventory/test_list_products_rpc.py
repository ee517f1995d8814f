"""ListProducts over gRPC: filters, orders and paging, and the errors of a bad request."""

from __future__ import annotations

import base64

import grpc
import pytest

from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from tests.grpc.inventory.conftest import expect_error, usd

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def _names(stub, request: pb.ListProductsRequest) -> list[str]:
    names: list[str] = []
    while True:
        reply = await stub.ListProducts(request)
        names += [p.name for p in reply.products]
        if not reply.next_page_token:
            return names
        request.page_token = reply.next_page_token


async def test_filters_and_orders(stub, make_category, make_product) -> None:
    shoes = await make_category("Shoes")
    boots = await make_category("Boots", shoes.id)
    await make_product("Red boot", 5000, category_id=boots.id, tags=["red"], quantity=1)
    await make_product("Blue boot", 3000, category_id=boots.id, tags=["blue"], quantity=0)
    await make_product("Red sandal", 2000, category_id=shoes.id, tags=["red"], quantity=9)
    await make_product("Red hat", 1000, tags=["red"], quantity=2, min_stock_level=2)

    def request(order_by: str = "", **f) -> pb.ListProductsRequest:
        return pb.ListProductsRequest(filter=pb.ProductFilter(**f), order_by=order_by, page_size=1)

    assert await _names(stub, request()) == ["Red boot", "Blue boot", "Red sandal", "Red hat"]
    assert await _names(stub, request("created_at desc")) == [
        "Red hat", "Red sandal", "Blue boot", "Red boot"
    ]  # fmt: skip
    assert await _names(stub, request("price")) == [
        "Red hat",
        "Red sandal",
        "Blue boot",
        "Red boot",
    ]
    assert await _names(stub, request("name desc")) == [
        "Red sandal", "Red hat", "Red boot", "Blue boot"
    ]  # fmt: skip
    assert await _names(stub, request("name", category_id=shoes.id)) == ["Red sandal"]
    assert await _names(
        stub, request("name", category_id=shoes.id, include_subcategories=True)
    ) == ["Blue boot", "Red boot", "Red sandal"]
    assert await _names(stub, request("name", tags=[" RED "], in_stock=True)) == [
        "Red boot", "Red hat", "Red sandal"
    ]  # fmt: skip
    assert await _names(stub, request("price", min_price=usd(2000), max_price=usd(3000))) == [
        "Red sandal", "Blue boot"
    ]  # fmt: skip
    assert await _names(stub, request("name", low_stock=True)) == ["Blue boot", "Red hat"]
    assert await _names(stub, request("name", query="RED, boot!")) == ["Red boot"]


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (pb.ListProductsRequest(order_by="popularity"), "order_by", "INVALID_FIELD"),
        (pb.ListProductsRequest(order_by="price sideways"), "order_by", "INVALID_FIELD"),
        (pb.ListProductsRequest(page_size=-1), "page_size", "INVALID_FIELD"),
        (pb.ListProductsRequest(page_token="garbage"), "page_token", "INVALID_PAGE_TOKEN"),
        (
            pb.ListProductsRequest(filter=pb.ProductFilter(min_price=usd(5), max_price=usd(4))),
            "filter.max_price",
            "INVALID_FIELD",
        ),
        (
            pb.ListProductsRequest(filter=pb.ProductFilter(min_price=usd(-1))),
            "filter.min_price.minor_units",
            "INVALID_FIELD",
        ),
        (
            pb.ListProductsRequest(filter=pb.ProductFilter(query="a b c d e f g h i j k")),
            "filter.query",
            "INVALID_FIELD",
        ),
        (
            pb.ListProductsRequest(filter=pb.ProductFilter(tags=[f"t{i}" for i in range(21)])),
            "filter.tags",
            "INVALID_FIELD",
        ),
        (
            pb.ListProductsRequest(
                filter=pb.ProductFilter(max_price=money_pb2.Money(currency_code="EUR"))
            ),
            "filter.max_price.currency_code",
            "CURRENCY_MISMATCH",
        ),
    ],
)
async def test_bad_requests_are_invalid(stub, request_, field, reason) -> None:
    details = await expect_error(stub.ListProducts(request_), INVALID, reason)
    assert field in details.violated_fields


async def test_unknown_category_filter_is_not_found(stub) -> None:
    request = pb.ListProductsRequest(filter=pb.ProductFilter(category_id="nope"))
    await expect_error(stub.ListProducts(request), grpc.StatusCode.NOT_FOUND, "CATEGORY_NOT_FOUND")


async def test_page_tokens_are_bound_to_their_query_and_tamper_proof(stub, make_product) -> None:
    for i in range(3):
        await make_product(f"Item {i}", tags=["x"])
    first = await stub.ListProducts(pb.ListProductsRequest(page_size=1, order_by="price"))
    token = first.next_page_token
    assert token
    await expect_error(
        stub.ListProducts(pb.ListProductsRequest(page_size=1, order_by="name", page_token=token)),
        INVALID,
        "INVALID_PAGE_TOKEN",
    )
    other_filter = pb.ListProductsRequest(
        page_size=1, order_by="price", page_token=token, filter=pb.ProductFilter(tags=["x"])
    )
    await expect_error(stub.ListProducts(other_filter), INVALID, "INVALID_PAGE_TOKEN")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    await expect_error(
        stub.ListProducts(
            pb.ListProductsRequest(page_size=1, order_by="price", page_token=tampered)
        ),
        INVALID,
        "INVALID_PAGE_TOKEN",
    )
    # The same query with a different page size may continue.
    second = await stub.ListProducts(
        pb.ListProductsRequest(page_size=5, order_by="price", page_token=token)
    )
    assert len(second.products) == 2

"""GetProduct and ListProducts built as bytes are exactly the messages the message path built."""

from __future__ import annotations

from dataclasses import replace

import pytest

from estore.inventory import codec_proto, codec_wire
from estore.inventory.models import Product
from generated.estore.inventory.v1 import inventory_service_pb2 as pb

PLAIN = Product(
    id="p1", name="Kettle", price_minor=1999, quantity=5, reserved=1, sold=0, added=6,
    created_by=1, category_id="", description="", tags=(), image_url="",
    min_stock_level=0, discount_percentage=0, created_at=1000, updated_at=None, rev=0,
)  # fmt: skip
FULL = replace(
    PLAIN,
    id="f" * 32,
    name="Théière « Zen » 🍵",
    price_minor=2**40 + 7,
    quantity=2**31 - 1,
    reserved=12,
    created_by=2**40,
    category_id="c" * 32,
    description="Долгое описание. " * 300,  # a payload past 16 KiB: a three-byte length
    tags=("tea", "zen", "ceramic"),
    image_url="https://images.example.com/kettle.jpg",
    min_stock_level=3,
    discount_percentage=35,
    created_at=1_700_000_000_123,
    updated_at=1_700_000_999_456,
    rev=9,
)
SOLD_OUT = replace(PLAIN, id="p3", quantity=0, reserved=0, discount_percentage=100, rev=2)
PRODUCTS = [PLAIN, FULL, SOLD_OUT]


def _old_get(product: Product) -> pb.GetProductResponse:
    """GetProductResponse as the servicer built it before (ProductMessages.fill)."""
    reply = pb.GetProductResponse()
    codec_proto.ProductMessages("USD").fill(reply.product, product)
    return reply


def _old_list(products: list[Product], token: str) -> pb.ListProductsResponse:
    reply = pb.ListProductsResponse(next_page_token=token)
    messages = codec_proto.ProductMessages("USD")
    for product in products:
        messages.fill(reply.products.add(), product)
    return reply


@pytest.mark.parametrize("product", PRODUCTS, ids=["plain", "full", "sold-out"])
def test_get_product_bytes_are_the_message(product: Product) -> None:
    encode = codec_wire.ProductEncoder("USD")
    raw = codec_wire.get_product_response(encode(product))
    parsed = pb.GetProductResponse.FromString(raw)
    assert parsed == _old_get(product)
    assert parsed.product == codec_proto.product_to_proto(product, "USD")
    assert raw == _old_get(product).SerializeToString()


@pytest.mark.parametrize("token", ["", "next-page-token", "t" * 300])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_list_products_bytes_are_the_message(token: str, count: int) -> None:
    encode = codec_wire.ProductEncoder("USD")
    products = PRODUCTS[:count]
    raw = codec_wire.list_products_response([encode(p) for p in products], token)
    parsed = pb.ListProductsResponse.FromString(raw)
    assert parsed == _old_list(products, token)
    assert raw == _old_list(products, token).SerializeToString()


def test_the_fields_that_matter_survive() -> None:
    encode = codec_wire.ProductEncoder("USD")
    product = pb.GetProductResponse.FromString(encode(FULL)).product
    assert product.effective_price.minor_units == FULL.effective_price_minor != FULL.price_minor
    assert (product.quantity, product.reserved, product.min_stock_level) == (2**31 - 1, 12, 3)
    assert list(product.tags) == ["tea", "zen", "ceramic"]
    assert product.created_at.ToMilliseconds() == 1_700_000_000_123
    assert product.updated_at.ToMilliseconds() == 1_700_000_999_456
    assert not pb.GetProductResponse.FromString(encode(PLAIN)).product.HasField("updated_at")


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16_383, 16_384, 2**21, 2**35])
def test_varints_are_the_library_s(n: int) -> None:
    message = pb.ListProductsResponse(next_page_token="x" * n if n < 2**21 else "")
    if n < 2**21:
        assert codec_wire.list_products_response([], message.next_page_token) == (
            message.SerializeToString()
        )
    # a varint is 7 bits a byte, low bits first, the high bit set on every byte but the last
    encoded = codec_wire.varint(n)
    assert sum((b & 0x7F) << (7 * i) for i, b in enumerate(encoded)) == n
    assert all(b & 0x80 for b in encoded[:-1])
    assert not encoded[-1] & 0x80


def test_bytes_pass_through_the_serializer_and_messages_are_serialized() -> None:
    serializer = codec_wire.pass_bytes(pb.GetProductResponse.SerializeToString)
    assert serializer(b"\x0a\x00") == b"\x0a\x00"
    message = pb.GetProductResponse(product=pb.Product(id="p1"))
    assert serializer(message) == message.SerializeToString()

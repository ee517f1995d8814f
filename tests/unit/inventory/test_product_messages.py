"""Product messages are built once per revision; the stock counters are always the live ones."""

from __future__ import annotations

from dataclasses import replace

import pytest

from estore.inventory import codec_proto
from estore.inventory.codec_redis import PRODUCT_FIELDS, product_from_fields
from estore.inventory.models import Product
from generated.estore.inventory.v1 import inventory_service_pb2 as pb

PRODUCT = Product(
    id="p1", name="Kettle", price_minor=1999, quantity=5, reserved=1, sold=0, added=6,
    created_by=1, category_id="", description="", tags=("tea",), image_url="",
    min_stock_level=0, discount_percentage=10, created_at=1000, updated_at=None, rev=0,
)  # fmt: skip


def _message(messages: codec_proto.ProductMessages, product: Product) -> pb.Product:
    reply = pb.GetProductResponse()
    messages.fill(reply.product, product)
    return reply.product


def test_a_revision_is_converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    convert = codec_proto.product_to_proto

    def counting(product: Product, currency: str) -> pb.Product:
        built.append(product.id)
        return convert(product, currency)

    monkeypatch.setattr(codec_proto, "product_to_proto", counting)
    messages = codec_proto.ProductMessages("USD")
    for _ in range(3):
        assert _message(messages, PRODUCT) == convert(PRODUCT, "USD")
    assert built == ["p1"]


def test_stock_and_new_revisions_show_at_once() -> None:
    messages = codec_proto.ProductMessages("USD")
    _message(messages, PRODUCT)
    sold = replace(PRODUCT, quantity=2, reserved=3)
    assert (_message(messages, sold).quantity, _message(messages, sold).reserved) == (2, 3)
    renamed = replace(PRODUCT, name="Teapot", discount_percentage=50, rev=1, updated_at=2000)
    message = _message(messages, renamed)
    assert (message.name, message.effective_price.minor_units) == ("Teapot", 1000)


def test_the_cache_is_bounded() -> None:
    messages = codec_proto.ProductMessages("USD", max_products=2)
    for n in range(5):
        assert _message(messages, replace(PRODUCT, id=f"p{n}")).id == f"p{n}"
    assert len(messages) == 2


def test_a_missing_product_reads_as_none() -> None:
    assert product_from_fields([None] * len(PRODUCT_FIELDS)) is None

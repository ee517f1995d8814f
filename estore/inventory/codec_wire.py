"""GetProduct and ListProducts answered as bytes: product messages serialized once, framed.

In the protobuf wire format a message field is its tag, the length as a varint, then the
message's bytes, and a message is the concatenation of its fields. GetProductResponse.product and
ListProductsResponse.products are both field 1, so one framed product serves both: a
GetProductResponse is one framed product, a ListProductsResponse the page's framed products then
its next_page_token (field 2, framed the same way when not empty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

from estore.inventory import codec_proto
from estore.inventory.models import Product
from generated.estore.inventory.v1 import inventory_service_pb2 as pb

_PRODUCT_TAG = b"\x0a"  # field 1, length-delimited: GetProductResponse.product, ...products
_TOKEN_TAG = b"\x12"  # field 2, length-delimited: ListProductsResponse.next_page_token
# The RPCs whose handlers may return ready bytes (see pass_bytes).
BYTES_METHODS = ("GetProduct", "ListProducts")


def varint(n: int) -> bytes:
    """A non-negative integer as a protobuf varint: 7 bits a byte, low bits first."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def framed(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field: tag, varint length, payload."""
    return tag + varint(len(payload)) + payload


class ProductEncoder:
    """A product as a framed field-1 Product, built from the per-revision message templates."""

    def __init__(self, currency: str) -> None:
        self._messages = codec_proto.ProductMessages(currency)

    def __call__(self, product: Product) -> bytes:
        message = pb.Product()
        self._messages.fill(message, product)
        return framed(_PRODUCT_TAG, message.SerializeToString())


def get_product_response(entry: bytes) -> bytes:
    """A serialized GetProductResponse holding the framed product `entry`."""
    return entry


def list_products_response(entries: Iterable[bytes], next_page_token: str) -> bytes:
    """A serialized ListProductsResponse: the framed products, then the token if any."""
    token = framed(_TOKEN_TAG, next_page_token.encode()) if next_page_token else b""
    return b"".join(entries) + token


def pass_bytes(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A response serializer that sends bytes as they are and serializes anything else."""

    def serializer(response: Any) -> bytes:
        if isinstance(response, bytes):
            return response
        return serialize(response)

    return serializer


def _passing(method: str, handler: Any) -> Any:
    if handler is None or method.rpartition("/")[2] not in BYTES_METHODS:
        return handler
    return handler._replace(response_serializer=pass_bytes(handler.response_serializer))


class BytesReplies:
    """Stands in for the server while InventoryService registers: GetProduct and ListProducts
    get a serializer that sends ready bytes as they are."""

    # Generated `add_XServicer_to_server` registers each method twice: by name (grpc's fast
    # path) and in a generic handler (the fallback); both get the same serializer.

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Register `handlers`, the two byte-answering ones with their serializer swapped."""
        swapped = {name: _passing(name, h) for name, h in handlers.items()}
        self._server.add_registered_method_handlers(service, swapped)

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        """Register `handlers`, each answering with swapped serializers."""
        self._server.add_generic_rpc_handlers(tuple(_PassingGeneric(h) for h in handlers))


class _PassingGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        return _passing(details.method, self._inner.service(details))

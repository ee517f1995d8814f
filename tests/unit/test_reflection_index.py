"""The reflection index finds every kind of symbol, extensions, and sends each import once."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2

from estore.common.reflection import DescriptorIndex, build_index

INVENTORY_FILE = "estore/inventory/v1/inventory_service.proto"


def test_every_kind_of_symbol_names_its_file() -> None:
    health = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    index = build_index(["estore.inventory.v1.InventoryService", health, "no.such.Service"])
    assert index.file_of_symbol("estore.inventory.v1.InventoryService.ListProducts") == (
        INVENTORY_FILE
    )
    for symbol in (
        "estore.inventory.v1.InventoryService",
        "estore.inventory.v1.Product",
        "estore.inventory.v1.Product.reserved",
        "estore.inventory.v1.ReservationState",
        "estore.inventory.v1.RESERVATION_STATE_HELD",  # enum values are siblings of their enum
        ".estore.inventory.v1.Product",
    ):
        assert index.file_of_symbol(symbol) == INVENTORY_FILE, symbol
    assert index.file_of_symbol("estore.common.v1.INSUFFICIENT_STOCK") == (
        "estore/common/v1/error_reason.proto"
    )
    assert index.file_of_symbol("google.rpc.ErrorInfo") == "google/rpc/error_details.proto"
    assert index.file_of_symbol("grpc.health.v1.Health.Check") == health_pb2.DESCRIPTOR.name
    assert index.file_of_symbol("estore.inventory.v1.Nothing") is None


def test_extensions_are_found_by_number() -> None:
    index = build_index([])
    assert index.file_of_extension("google.protobuf.FieldOptions", 1052) == (
        "google/api/field_behavior.proto"
    )
    assert 1052 in index.extension_numbers(".google.protobuf.FieldOptions")


def test_a_file_is_sent_with_its_imports_once_per_stream() -> None:
    index = build_index([])
    sent: set[str] = set()
    first = [
        descriptor_pb2.FileDescriptorProto.FromString(raw).name
        for raw in index.with_dependencies(INVENTORY_FILE, sent)
    ]
    assert first[0] == INVENTORY_FILE
    assert {"estore/common/v1/money.proto", "google/api/field_behavior.proto"} <= set(first)
    again = index.with_dependencies("estore/common/v1/money.proto", sent)
    assert again == []  # the caller (the servicer) decides to resend a file asked for by name


def test_nested_messages_and_enums_are_indexed() -> None:
    message = descriptor_pb2.DescriptorProto(
        name="Outer",
        nested_type=[descriptor_pb2.DescriptorProto(name="Inner")],
        enum_type=[
            descriptor_pb2.EnumDescriptorProto(
                name="Kind", value=[descriptor_pb2.EnumValueDescriptorProto(name="KIND_A")]
            )
        ],
    )
    index = DescriptorIndex(
        [descriptor_pb2.FileDescriptorProto(name="x.proto", package="p", message_type=[message])]
    )
    for symbol in ("p.Outer", "p.Outer.Inner", "p.Outer.Kind", "p.Outer.KIND_A"):
        assert index.file_of_symbol(symbol) == "x.proto", symbol

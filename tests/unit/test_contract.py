"""The protos hold every RPC SPEC.md names, and money is never a float."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2
from generated.estore.payments.v1 import payment_service_pb2
from generated.estore.users.v1 import user_service_pb2

SPEC_RPCS = {
    ("estore.users.v1", "UserService"): {
        "Register", "VerifyEmail", "ResendVerification", "Login", "GetCurrentUser", "GetUser",
        "ListUsers", "UpdateUser", "ChangePassword", "RequestPasswordReset", "ResetPassword",
        "RefreshToken", "Logout",
    },
    ("estore.inventory.v1", "InventoryService"): {
        "CreateProduct", "GetProduct", "ListProducts", "UpdateProduct", "DeleteProduct",
        "AdjustStock", "ReserveStock", "CommitReservation", "ReleaseReservation",
        "CreateCategory", "GetCategory", "ListCategories", "UpdateCategory", "DeleteCategory",
        "GetProductAnalytics", "WatchInventory",
    },
    ("estore.payments.v1", "PaymentService"): {
        "AddPaymentMethod", "ListPaymentMethods", "DeletePaymentMethod", "CreateOrder",
        "PayOrder", "GetOrder", "ListOrders", "CancelOrder", "RefundOrder", "AddOrderNote",
    },
}  # fmt: skip

FILES: list[FileDescriptor] = [
    user_service_pb2.DESCRIPTOR,
    inventory_service_pb2.DESCRIPTOR,
    payment_service_pb2.DESCRIPTOR,
    money_pb2.DESCRIPTOR,
]

SPEC_FIELDS = {
    "estore.users.v1.User": {
        "id", "email", "is_active", "is_verified", "is_admin", "created_at", "updated_at",
    },
    "estore.users.v1.LoginResponse": {"access_token", "expires_at", "refresh_token", "user"},
    "estore.inventory.v1.Product": {
        "id", "name", "price", "effective_price", "quantity", "reserved", "created_by",
        "category_id", "description", "tags", "image_url", "min_stock_level",
        "discount_percentage", "created_at", "updated_at",
    },
    "estore.inventory.v1.ProductFilter": {
        "category_id", "include_subcategories", "tags", "min_price", "max_price", "in_stock",
        "low_stock", "query",
    },
    "estore.inventory.v1.Reservation": {
        "id", "product_id", "quantity", "unit_price", "expires_at", "state",
    },
    "estore.payments.v1.Order": {
        "id", "product_id", "user_id", "quantity", "unit_price", "price", "fee", "total",
        "refund_amount", "status", "payment_status", "payment_method_id", "payment_error",
        "notes", "created_at", "updated_at",
    },
    "estore.payments.v1.RefundOrderRequest": {
        "order_id", "amount", "reason", "restock", "request_id",
    },
}  # fmt: skip


def _messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    pending = [m for f in FILES for m in f.message_types_by_name.values()]
    while pending:
        message = pending.pop()
        found.append(message)
        pending.extend(message.nested_types)
    return found


def test_every_spec_rpc_exists_with_its_own_request_and_response() -> None:
    services = {(f.package, s.name): s for f in FILES for s in f.services_by_name.values()}
    for key, rpcs in SPEC_RPCS.items():
        service = services[key]
        assert rpcs <= set(service.methods_by_name), rpcs - set(service.methods_by_name)
        for method in service.methods:
            assert method.input_type.name == f"{method.name}Request"
            assert method.output_type.name == f"{method.name}Response"


def test_spec_fields_exist() -> None:
    by_name = {m.full_name: m for m in _messages()}
    for message, fields in SPEC_FIELDS.items():
        assert fields <= set(by_name[message].fields_by_name), message


def test_no_float_or_double_anywhere() -> None:
    floats = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
    offenders = [
        f"{m.full_name}.{f.name}" for m in _messages() for f in m.fields if f.type in floats
    ]
    assert offenders == []


def test_money_is_integer_minor_units() -> None:
    fields = money_pb2.Money.DESCRIPTOR.fields_by_name
    assert fields["minor_units"].type == FieldDescriptor.TYPE_INT64
    assert fields["currency_code"].type == FieldDescriptor.TYPE_STRING
    money_fields = [
        f"{m.full_name}.{f.name}"
        for m in _messages()
        for f in m.fields
        if f.name in {"price", "fee", "total", "unit_price", "refund_amount", "amount"}
    ]
    assert money_fields
    for path in money_fields:
        message_name, field_name = path.rsplit(".", 1)
        field = {m.full_name: m for m in _messages()}[message_name].fields_by_name[field_name]
        assert field.message_type is not None
        assert field.message_type.full_name == "estore.common.v1.Money", path


def test_enum_zero_values_are_unspecified() -> None:
    enums = [e for f in FILES for e in f.enum_types_by_name.values()]
    enums += [e for m in _messages() for e in m.enum_types]
    assert enums
    for enum in enums:
        assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.full_name

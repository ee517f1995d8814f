"""Every field says its role (google.api.field_behavior) and every secret is marked debug_redact.

The conventions are in buf.yaml and docs/clients.md; these tests hold every message of every
generated EStore proto to them, so a field added without its annotation fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

import generated.estore

FieldBehavior = field_behavior_pb2.FieldBehavior

# Field names that hold a secret wherever they appear; page tokens are opaque cursors, not secrets.
SECRET_NAME = re.compile(r"password|secret|cvc|(^|_)token$")
NOT_SECRET = {"page_token", "next_page_token"}
# Secrets whose names alone do not say so.
SECRET_FIELDS = {"estore.payments.v1.Card.number"}
# Fields the server sets: whatever message holds them, clients cannot set them.
SERVER_SET = {"created_at", "updated_at", "effective_price", "reserved", "created_by"}


def _files() -> list[FileDescriptor]:
    files = []
    for module in pkgutil.walk_packages(generated.estore.__path__, "generated.estore."):
        if module.name.endswith("_pb2"):
            files.append(importlib.import_module(module.name).DESCRIPTOR)
    return files


def _messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    pending = [m for f in _files() for m in f.message_types_by_name.values()]
    while pending:
        message = pending.pop()
        found.append(message)
        pending.extend(message.nested_types)
    return found


def _fields() -> list[FieldDescriptor]:
    return [field for message in _messages() for field in message.fields]


def _message_name(field: FieldDescriptor) -> str:
    assert field.containing_type is not None
    return str(field.containing_type.name)


def behaviors(field: FieldDescriptor) -> set[int]:
    """The google.api.field_behavior values of a field."""
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def test_every_proto_file_is_found() -> None:
    names = {f.name for f in _files()}
    assert {
        "estore/common/v1/money.proto",
        "estore/common/v1/error_reason.proto",
        "estore/users/v1/user_service.proto",
        "estore/inventory/v1/inventory_service.proto",
        "estore/payments/v1/payment_service.proto",
    } <= names


def test_every_field_outside_responses_has_a_field_behavior() -> None:
    # A response is output by nature; every other message is (or may be) input, so its fields
    # must say whether a client must, may, or cannot set them.
    missing = [
        field.full_name
        for field in _fields()
        if not _message_name(field).endswith("Response") and not behaviors(field)
    ]
    assert missing == [], "add [(google.api.field_behavior) = ...] (see docs/clients.md)"


def test_no_field_is_both_required_and_output_only() -> None:
    clashing = [
        f.full_name
        for f in _fields()
        if {FieldBehavior.REQUIRED, FieldBehavior.OUTPUT_ONLY} <= behaviors(f)
    ]
    assert clashing == []


def test_request_fields_are_never_output_only() -> None:
    wrong = [
        f.full_name
        for f in _fields()
        if _message_name(f).endswith("Request") and FieldBehavior.OUTPUT_ONLY in behaviors(f)
    ]
    assert wrong == []


def test_server_set_fields_are_output_only() -> None:
    fields = [f for f in _fields() if f.name in SERVER_SET]
    assert fields
    wrong = [
        f.full_name
        for f in fields
        if not _message_name(f).endswith("Response")
        and FieldBehavior.OUTPUT_ONLY not in behaviors(f)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("field", "behavior"),
    [
        ("estore.inventory.v1.Product.id", FieldBehavior.IDENTIFIER),
        ("estore.inventory.v1.Product.reserved", FieldBehavior.OUTPUT_ONLY),
        ("estore.inventory.v1.Product.name", FieldBehavior.REQUIRED),
        ("estore.inventory.v1.Product.quantity", FieldBehavior.IMMUTABLE),
        ("estore.users.v1.RegisterRequest.email", FieldBehavior.REQUIRED),
        ("estore.users.v1.User.email", FieldBehavior.OUTPUT_ONLY),
        ("estore.payments.v1.RefundOrderRequest.amount", FieldBehavior.OPTIONAL),
        ("estore.payments.v1.Order.total", FieldBehavior.OUTPUT_ONLY),
    ],
)
def test_fields_named_in_the_issue_carry_their_role(field: str, behavior: int) -> None:
    by_name = {f.full_name: f for f in _fields()}
    assert behavior in behaviors(by_name[field])


def test_every_secret_is_marked_debug_redact() -> None:
    secrets = [
        f
        for f in _fields()
        if (SECRET_NAME.search(f.name) and f.name not in NOT_SECRET) or f.full_name in SECRET_FIELDS
    ]
    # The issue's list: passwords, card number, CVC, verification/reset tokens, access tokens.
    assert {
        "estore.users.v1.RegisterRequest.password",
        "estore.users.v1.ResetPasswordRequest.token",
        "estore.users.v1.VerifyEmailRequest.token",
        "estore.users.v1.LoginResponse.access_token",
        "estore.payments.v1.Card.number",
        "estore.payments.v1.Card.cvc",
    } <= {f.full_name for f in secrets}
    unmarked = [f.full_name for f in secrets if not f.GetOptions().debug_redact]
    assert unmarked == [], "add [debug_redact = true] to every secret"

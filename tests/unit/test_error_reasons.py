"""Every ErrorInfo reason the servers can send is a value of estore.common.v1.ErrorReason, and back.

The reasons are collected from the code itself: the `reason` of every DomainError subclass, every
literal `reason=` given to one, the defaults of the generic errors raised without a reason, the
reasons the interceptor builds, and the card processor's decline codes. A reason computed at run
time must be one of the sources listed in DYNAMIC_REASONS; a new kind of dynamic reason fails
here until it is taught to this test.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import estore
from estore.common import errors
from estore.payments import processor
from generated.estore.common.v1 import error_reason_pb2

SOURCE = Path(estore.__file__).parent
# The generic bases: their `reason` is only a fallback, sent when one is raised without a reason.
GENERIC = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type)}


def _domain_errors() -> dict[str, set[type[errors.DomainError]]]:
    for module in pkgutil.walk_packages(estore.__path__, "estore."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    by_name: dict[str, set[type[errors.DomainError]]] = {}
    pending: list[type[errors.DomainError]] = [errors.DomainError]
    while pending:
        cls = pending.pop()
        by_name.setdefault(cls.__name__, set()).add(cls)
        pending.extend(cls.__subclasses__())
    return by_name


def _decline_codes() -> set[str]:
    codes = {code for _, code in processor.TEST_CARDS.values() if code}
    return codes | set(_literal_keywords("decline_code"))


def _literal_keywords(name: str) -> Iterator[str]:
    for call in _calls():
        for keyword in call.keywords:
            if keyword.arg == name and isinstance(keyword.value, ast.Constant):
                yield str(keyword.value.value)


def _calls() -> Iterator[ast.Call]:
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                yield node


def _callee(call: ast.Call) -> str:
    """`X` for `X(...)`, `errors.X(...)` and the `X.field(...)` constructor."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "field":
        func = func.value
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


# Reasons computed at run time, by source text: what they can be.
DYNAMIC_REASONS = {
    # Payments passes on the reason Inventory sent (itself collected here), else the default.
    "reason or None": "the class default",
    # A declined charge carries the processor's decline code.
    "result.decline_code": "a decline code",
    # to_rpc_status sends the reason of the domain error it was given.
    "error.reason": "any domain error's reason",
}


@functools.cache
def sendable_reasons() -> frozenset[str]:
    """Every reason the servers' code can put in an ErrorInfo (scanned once per session)."""
    classes = _domain_errors()
    reasons = {
        cls.reason
        for name, group in classes.items()
        if name not in GENERIC
        for cls in group
        if "reason" in vars(cls)
    }
    unknown: list[str] = []
    for call in _calls():
        name = _callee(call)
        if name == "build_status":
            reason = call.args[2] if len(call.args) > 2 else None
            if isinstance(reason, ast.Constant):
                reasons.add(str(reason.value))
            elif reason is None or ast.unparse(reason) not in DYNAMIC_REASONS:
                unknown.append(f"{ast.unparse(call)[:80]} (line {call.lineno})")
            continue
        if name not in classes:
            continue
        given = next((k.value for k in call.keywords if k.arg == "reason"), None)
        if isinstance(given, ast.Constant):
            reasons.add(str(given.value))
            continue
        if given is not None:
            source = ast.unparse(given)
            if source not in DYNAMIC_REASONS:
                unknown.append(f"{ast.unparse(call)[:80]} (line {call.lineno})")
            elif source == "result.decline_code":
                reasons |= _decline_codes()
                continue
        reasons |= {cls.reason for cls in classes[name]}
    assert unknown == [], "reasons computed at run time that this test cannot follow"
    return frozenset(reasons)


def test_the_scan_finds_reasons_of_every_kind() -> None:
    found = sendable_reasons()
    assert {
        "INVALID_FIELD",  # InvalidArgument raised without a reason
        "STORE_UNAVAILABLE",  # Unavailable raised without a reason
        "PRODUCT_NOT_FOUND",  # a subclass's own reason
        "AUTH_TOKEN_MISSING",  # a literal reason=
        "INTERNAL_ERROR",  # built by the interceptor
        "INSUFFICIENT_FUNDS",  # a decline code
    } <= found
    assert "ERROR" not in found  # DomainError itself is never raised


def test_every_reason_the_servers_send_is_an_error_reason_value() -> None:
    values = set(error_reason_pb2.ErrorReason.keys())
    missing = sorted(sendable_reasons() - values)
    assert missing == [], "add these to protos/estore/common/v1/error_reason.proto"


def test_every_error_reason_value_is_sent_by_some_server() -> None:
    values = set(error_reason_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
    unused = sorted(values - sendable_reasons())
    assert unused == [], "no server sends these reasons"


def test_error_reason_zero_is_unspecified() -> None:
    assert error_reason_pb2.ErrorReason.Name(0) == "ERROR_REASON_UNSPECIFIED"

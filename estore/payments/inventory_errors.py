"""Inventory's answers as Payments' errors: the one place that knows both services' errors."""

from __future__ import annotations

import logging
import re

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from estore.common import errors
from estore.payments.errors import (
    InsufficientStock,
    InventoryBusy,
    InventoryUnavailable,
    ProductNotFound,
    ReservationLost,
)

log = logging.getLogger("estore.payments.inventory")
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_ENTRY = re.compile(r"^entries\[\d+\]\.")


def _details(status: status_pb2.Status | None) -> tuple[str, list[errors.FieldViolation]]:
    """The ErrorInfo reason and the BadRequest field violations Inventory sent."""
    reason, violations = "", []
    for detail in status.details if status is not None else ():
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            reason = str(info.reason)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
            violations += [
                errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
            ]
    return reason, violations


def map_inventory_error(error: grpc.aio.AioRpcError) -> errors.DomainError:
    """Turn Inventory's status into a Payments error (the one place that knows both)."""
    reason, violations = _details(rpc_status.from_call(error))
    return _mapped(error.code(), error.details() or "", reason, violations)


def map_entry_status(status: status_pb2.Status) -> errors.DomainError:
    """A batch entry's status as the Payments error its single call's would be: its fields
    named as the single call names them (`quantity`, not `entries[3].quantity`)."""
    reason, violations = _details(status)
    violations = [errors.FieldViolation(_ENTRY.sub("", v.field), v.description) for v in violations]
    return _mapped(
        _CODES.get(status.code, grpc.StatusCode.UNKNOWN), status.message, reason, violations
    )


def _mapped(
    code: grpc.StatusCode, message: str, reason: str, violations: list[errors.FieldViolation]
) -> errors.DomainError:
    if code == grpc.StatusCode.NOT_FOUND and reason == "PRODUCT_NOT_FOUND":
        return ProductNotFound("no such product")
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "INSUFFICIENT_STOCK":
        return InsufficientStock("not enough stock for this quantity")
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        return ReservationLost(f"inventory refused: {message}", reason=reason or None)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidArgument(message, violations=violations, reason=reason or None)
    if code == grpc.StatusCode.ABORTED:  # the same request id still in flight: not an outage
        return InventoryBusy(
            f"inventory is busy with this request: {message}", reason=reason or None
        )
    if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.error("inventory answered %s %s: %s", code.name, reason, message)
    return InventoryUnavailable("inventory is unavailable; try again")

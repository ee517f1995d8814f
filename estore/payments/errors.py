"""Payments' domain errors, with the reasons the proto documents."""

from __future__ import annotations

from estore.common.errors import (
    Aborted,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unavailable,
)


class OrderNotFound(NotFound):
    reason = "ORDER_NOT_FOUND"


class PaymentMethodNotFound(NotFound):
    reason = "PAYMENT_METHOD_NOT_FOUND"


class ProductNotFound(NotFound):
    reason = "PRODUCT_NOT_FOUND"


class InsufficientStock(FailedPrecondition):
    reason = "INSUFFICIENT_STOCK"


class OrderNotPending(FailedPrecondition):
    reason = "ORDER_NOT_PENDING"


class OrderNotRefundable(FailedPrecondition):
    reason = "ORDER_NOT_REFUNDABLE"


class RefundExceedsRemaining(FailedPrecondition):
    reason = "REFUND_EXCEEDS_REMAINING"


class RefundRefused(FailedPrecondition):
    """The card processor refused a refund for good; it is FAILED and refunds nothing."""

    reason = "REFUND_REFUSED"


class TooManyNotes(FailedPrecondition):
    reason = "TOO_MANY_NOTES"


class CardDeclined(FailedPrecondition):
    """The processor declined; `reason` is its decline code."""

    reason = "CARD_DECLINED"


class EmailNotVerified(PermissionDenied):
    reason = "EMAIL_NOT_VERIFIED"


class NotOrderOwner(PermissionDenied):
    reason = "NOT_ORDER_OWNER"


class InventoryUnavailable(Unavailable):
    reason = "INVENTORY_UNAVAILABLE"


class InventoryBusy(Aborted):
    """Inventory is still running the same request (its ABORTED); retrying shortly may work."""

    reason = "REQUEST_IN_PROGRESS"


class ProcessorUnavailable(Unavailable):
    reason = "PROCESSOR_UNAVAILABLE"


class ReservationLost(FailedPrecondition):
    """Inventory no longer holds the order's stock (expired or released)."""

    reason = "RESERVATION_EXPIRED"

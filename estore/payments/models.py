"""Payments' plain data: orders, notes, refunds and payment methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from estore.payments.cards import CardSummary


class OrderStatus(Enum):
    """Where an order is in its life."""

    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class PaymentStatus(Enum):
    """Where an order's payment is."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PaymentMethod:
    """A saved card: only its summary and the processor's token."""

    id: str
    user_id: int
    card: CardSummary
    processor_token: str
    created_at: datetime


@dataclass(frozen=True)
class OrderNote:
    """A timestamped note on an order."""

    text: str
    created_at: datetime
    author_user_id: int


class RefundState(Enum):
    """Where a refund is in its saga: decided, money returned, stock returned and settled."""

    PENDING = "PENDING"  # decided (counted in refund_amount); the money is not back yet
    RETURNED = "RETURNED"  # the processor returned the money; stock and settling remain
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # the processor refused it: taken out of refund_amount again

    @property
    def in_progress(self) -> bool:
        return self in (RefundState.PENDING, RefundState.RETURNED)


@dataclass(frozen=True)
class Refund:
    """One (partial) refund of an order."""

    amount_minor: int
    reason: str
    restocked: bool  # this refund returned units to Inventory
    created_at: datetime
    author_user_id: int
    request_id: str = ""  # the RefundOrder request id that made it, if one was given
    id: str = ""  # empty only for refunds recorded before refunds had ids
    state: RefundState = RefundState.COMPLETED
    restock: bool = False  # the admin asked for units back
    # (product id, units) this refund returns to stock, fixed once its money is back.
    units: tuple[tuple[str, int], ...] = ()
    # (product id, units) a refund by lines refunds, as asked; empty for a refund by amount.
    lines: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class OrderLine:
    """One product of an order, its units, their price and its stock hold."""

    product_id: str
    quantity: int
    unit_price_minor: int
    reservation_id: str
    refunded: int = 0  # units refunded by refunds by lines (decided, not failed)
    restocked: int = 0  # units returned to Inventory by completed refunds

    @property
    def price_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True)
class Order:
    """An order with its money in integer minor units of `currency`.

    `lines` holds every product ordered. `product_id`, `quantity`, `unit_price_minor` and
    `reservation_id` repeat a one-line order's single line (as orders were before baskets) and
    are empty (0) for an order of several lines.
    """

    id: str
    user_id: int
    product_id: str
    quantity: int
    currency: str
    unit_price_minor: int
    price_minor: int
    fee_minor: int
    total_minor: int
    refund_amount_minor: int
    status: OrderStatus
    payment_status: PaymentStatus
    reservation_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    payment_method_id: str = ""
    payment_error: str = ""
    cancel_reason: str = ""
    charge_id: str = ""
    restocked: bool = False
    notes: tuple[OrderNote, ...] = field(default_factory=tuple)
    refunds: tuple[Refund, ...] = field(default_factory=tuple)
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)

    def line(self, product_id: str) -> OrderLine | None:
        """The line of `product_id`, if the order has one."""
        return next((line for line in self.lines if line.product_id == product_id), None)

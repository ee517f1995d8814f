"""Payments' plain rules: who may buy, id and quantity limits, order arithmetic, and ports."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from estore.common.auth import Caller
from estore.common.errors import FieldViolation, InvalidArgument
from estore.common.money import fee_for, share_of
from estore.payments.buckets import bucket_of_user, new_id
from estore.payments.errors import (
    EmailNotVerified,
    PaymentMethodNotFound,
    RefundExceedsRemaining,
)
from estore.payments.inventory_client import Reservation
from estore.payments.models import Order, PaymentMethod

MAX_QUANTITY = 10_000
MAX_ID_LENGTH = 128
Lines = tuple[tuple[str, int], ...]  # (product id, units)
_ID = re.compile(r"[A-Za-z0-9_-]+")


class Inventory(Protocol):
    """What the saga needs from Inventory (inventory_client.InventoryClient in production)."""

    async def reserve(
        self, product_id: str, quantity: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation: ...

    async def commit(self, reservation_id: str, product_id: str = "") -> Reservation: ...

    async def release(self, reservation_id: str, product_id: str = "") -> Reservation: ...

    async def restock(
        self, product_id: str, quantity: int, request_id: str, reason: str
    ) -> None: ...


@dataclass(frozen=True)
class PaymentsConfig:
    """The rules' numbers."""

    currency: str
    fee_bps: int
    reservation_ttl_seconds: int
    lease_seconds: int = 30
    charge_attempts: int = 3
    retry_pause_seconds: float = 0.05


def require_buyer(caller: Caller) -> int:
    """The caller's user id if they may buy: signed in with a verified email."""
    user_id = caller.require_user()
    if not caller.is_verified:
        raise EmailNotVerified("verify your email address first")
    return user_id


def check_id(field: str, value: str, *, required: bool = True) -> None:
    """INVALID_ARGUMENT for a missing (when required), over-long or ill-formed id."""
    problem = id_problem(value, required=required, server_made=field != "request_id")
    if problem:
        raise InvalidArgument.field(field, problem)


def id_problem(value: str, *, required: bool = True, server_made: bool = True) -> str:
    """What is wrong with an id ('' if nothing)."""
    if required and not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    # Server-made ids are letters, digits, - and _; anything else cannot name one (and must
    # never reach a Redis key). Request ids are the client's own and may hold anything.
    if value and server_made and not _ID.fullmatch(value):
        return "is not a valid id"
    return ""


def price_order(unit_price_minor: int, quantity: int, fee_bps: int) -> tuple[int, int, int]:
    """(price, fee, total) in minor units: fee is price x bps / 10000 rounded half-up."""
    return price_lines([(unit_price_minor, quantity)], fee_bps)


def price_lines(lines: Sequence[tuple[int, int]], fee_bps: int) -> tuple[int, int, int]:
    """(price, fee, total) of (unit price, units) lines: the fee is taken once, on their sum."""
    price = sum(unit_price * quantity for unit_price, quantity in lines)
    fee = fee_for(price, fee_bps)
    return price, fee, price + fee


def line_refund_amount(order: Order, lines: Lines) -> int:
    """What refunding `lines` returns: their price, plus the fee's share of it.

    The fee share is pro rata of the line prices refunded by lines so far, rounded half-up, less
    what earlier refunds by lines took: the shares add up to the fee exactly once every line is
    refunded, so refunds by lines never add up past the total.
    """
    price = 0
    for i, (product_id, units) in enumerate(lines):
        line = order.line(product_id)
        if line is None:
            raise InvalidArgument.field(f"items[{i}].product_id", "is not a line of this order")
        if units > line.quantity - line.refunded:
            left = line.quantity - line.refunded
            raise RefundExceedsRemaining(
                f"items[{i}]: {left} of the line's {line.quantity} units remain refundable",
                violations=[FieldViolation(f"items[{i}].quantity", f"at most {left}")],
            )
        price += line.unit_price_minor * units
    if price == 0:
        raise InvalidArgument.field("items", "these units cost nothing: there is nothing to refund")
    before = sum(line.unit_price_minor * line.refunded for line in order.lines)
    fee_share = share_of(order.fee_minor, before + price, order.price_minor) - share_of(
        order.fee_minor, before, order.price_minor
    )
    return price + fee_share


def check_quantity(quantity: int) -> None:
    """INVALID_ARGUMENT unless 1 <= quantity <= MAX_QUANTITY."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidArgument.field("quantity", f"must be 1 to {MAX_QUANTITY}")


def owned_method(method: PaymentMethod | None, user_id: int) -> PaymentMethod:
    """The caller's own payment method; a missing one, or another user's, is NOT_FOUND."""
    if method is None or method.user_id != user_id:
        raise PaymentMethodNotFound("no such payment method")
    return method


def order_id_for(user_id: int, request_id: str) -> str:
    """The order id, carrying the user's bucket: derived from the request id when there is one,
    so a retry finds it."""
    if not request_id:
        return new_id(bucket_of_user(user_id), uuid.uuid4().hex)
    unique = hashlib.sha256(f"{user_id}:{request_id}".encode()).hexdigest()[:32]
    return new_id(bucket_of_user(user_id), unique)


def method_id_for(user_id: int) -> str:
    """A new payment method id, carrying its owner's bucket."""
    return new_id(bucket_of_user(user_id), uuid.uuid4().hex)


def charge_key(order: Order) -> str:
    """The processor idempotency key: one charge per order, whatever happens."""
    return f"{order.id}:charge"

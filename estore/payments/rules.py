"""Payments' plain rules: who may buy, id and quantity limits, order arithmetic, and ports."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Protocol

from estore.common.auth import Caller
from estore.common.errors import InvalidArgument
from estore.common.money import fee_for
from estore.payments.errors import EmailNotVerified
from estore.payments.inventory_client import Reservation
from estore.payments.models import Order

MAX_QUANTITY = 10_000
MAX_ID_LENGTH = 128
_ID = re.compile(r"[A-Za-z0-9_-]+")


class Inventory(Protocol):
    """What the saga needs from Inventory (inventory_client.InventoryClient in production)."""

    async def reserve(
        self, product_id: str, quantity: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation: ...

    async def commit(self, reservation_id: str) -> Reservation: ...

    async def release(self, reservation_id: str) -> Reservation: ...

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
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument.field(field, f"must be at most {MAX_ID_LENGTH} characters")
    # Server-made ids are letters, digits, - and _; anything else cannot name one (and must
    # never reach a Redis key). Request ids are the client's own and may hold anything.
    if value and field != "request_id" and not _ID.fullmatch(value):
        raise InvalidArgument.field(field, "is not a valid id")


def price_order(unit_price_minor: int, quantity: int, fee_bps: int) -> tuple[int, int, int]:
    """(price, fee, total) in minor units: fee is price x bps / 10000 rounded half-up."""
    price = unit_price_minor * quantity
    fee = fee_for(price, fee_bps)
    return price, fee, price + fee


def check_quantity(quantity: int) -> None:
    """INVALID_ARGUMENT unless 1 <= quantity <= MAX_QUANTITY."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidArgument.field("quantity", f"must be 1 to {MAX_QUANTITY}")


def order_id_for(user_id: int, request_id: str) -> str:
    """The order id: derived from the request id when there is one, so a retry finds it."""
    if not request_id:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{user_id}:{request_id}".encode()).hexdigest()[:32]


def charge_key(order: Order) -> str:
    """The processor idempotency key: one charge per order, whatever happens."""
    return f"{order.id}:charge"

"""Inventory entities as JSON-ready data, for the idempotent responses stored in Redis."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from estore.inventory.models import Product, Reservation, ReservationState


def product_to_json(product: Product) -> dict[str, Any]:
    """A product as JSON-ready data (stored idempotent responses)."""
    return {**asdict(product), "tags": list(product.tags)}


def product_from_json(data: dict[str, Any]) -> Product:
    """A product from product_to_json's data."""
    return Product(**{**data, "tags": tuple(data["tags"])})


def reservation_to_json(reservation: Reservation) -> dict[str, Any]:
    """A reservation as JSON-ready data (stored idempotent responses)."""
    return {**asdict(reservation), "state": reservation.state.value}


def reservation_from_json(data: dict[str, Any]) -> Reservation:
    """A reservation from reservation_to_json's data."""
    return Reservation(**{**data, "state": ReservationState(data["state"])})

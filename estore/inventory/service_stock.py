"""InventoryService rules for stock: adjustments and reservations, idempotent per AIP-155."""

from __future__ import annotations

import hashlib
import uuid

from estore.common.auth import Caller
from estore.common.idempotency import fingerprint
from estore.inventory import rules_fields
from estore.inventory.codec_json import (
    product_from_json,
    product_to_json,
    reservation_from_json,
    reservation_to_json,
)
from estore.inventory.models import Clock, Product, Reservation
from estore.inventory.rules_fields import Violations
from estore.inventory.service_products import require_admin_or_service
from estore.inventory.store import InventoryStore

TTL_MIN_MS = 1000
TTL_MAX_MS = 24 * 3600 * 1000


class StockService:
    """Available stock, and the reservations that hold it for pending orders."""

    def __init__(self, store: InventoryStore, *, default_ttl_seconds: int, clock: Clock) -> None:
        self._store = store
        self._default_ttl_ms = default_ttl_seconds * 1000
        self._clock = clock

    async def adjust_stock(
        self, caller: Caller, product_id: str, delta: int, reason: str, request_id: str = ""
    ) -> Product:
        """Add `delta` units (negative removes); never below zero; at most once per request id."""
        require_admin_or_service(caller)
        v = Violations()
        rules_fields.identifier(v, "product_id", product_id)
        if delta == 0:
            v.add("delta", "must not be 0")
        rules_fields.text_field(
            v, "reason", reason, required=False, maximum=rules_fields.REASON_MAX
        )
        rules_fields.request_id(v, request_id)
        v.raise_if_any()

        async def adjust() -> Product:
            return await self._store.stock.adjust(
                product_id, delta, reason.strip(), self._clock(), request_id
            )

        return await self._store.idempotency.run(
            "adjust_stock",
            request_id,
            fingerprint(product_id, delta, reason),
            adjust,
            product_to_json,
            product_from_json,
        )

    async def reserve_stock(
        self,
        caller: Caller,
        product_id: str,
        quantity: int,
        reservation_id: str = "",
        ttl_ms: int | None = None,
        request_id: str = "",
    ) -> Reservation:
        """Hold `quantity` units at today's effective price; idempotent on reservation_id."""
        caller.require_service()
        v = Violations()
        rules_fields.identifier(v, "product_id", product_id)
        rules_fields.integer(v, "quantity", quantity, 1, rules_fields.RESERVE_MAX)
        rules_fields.identifier(v, "reservation_id", reservation_id, required=False)
        if ttl_ms is not None and not TTL_MIN_MS <= ttl_ms <= TTL_MAX_MS:
            v.add("ttl", "must be between 1 second and 24 hours")
        rules_fields.request_id(v, request_id)
        v.raise_if_any()
        hold_id = reservation_id or _reservation_id_for(request_id)
        ttl = self._default_ttl_ms if ttl_ms is None else ttl_ms

        async def reserve() -> Reservation:
            now = self._clock()
            return await self._store.stock.reserve(product_id, hold_id, quantity, now, now + ttl)

        return await self._store.idempotency.run(
            "reserve_stock",
            request_id,
            fingerprint(product_id, quantity, reservation_id, ttl_ms),
            reserve,
            reservation_to_json,
            reservation_from_json,
        )

    async def commit_reservation(
        self, caller: Caller, reservation_id: str, product_id: str = ""
    ) -> Reservation:
        """Sell the held units; committing twice returns the same reservation."""
        _check_finish(caller, reservation_id, product_id)
        return await self._store.stock.commit(reservation_id, self._clock(), product_id)

    async def release_reservation(
        self, caller: Caller, reservation_id: str, product_id: str = ""
    ) -> Reservation:
        """Give the held units back; releasing twice returns the same reservation."""
        _check_finish(caller, reservation_id, product_id)
        return await self._store.stock.release(reservation_id, self._clock(), product_id)

    async def expire_due_reservations(self) -> int:
        """Expire the held reservations that are due, giving their stock back."""
        return await self._store.stock.expire_due(self._clock())


def _check_finish(caller: Caller, reservation_id: str, product_id: str) -> None:
    """A service may commit or release `reservation_id`, naming its product or not."""
    caller.require_service()
    v = Violations()
    rules_fields.identifier(v, "reservation_id", reservation_id)
    rules_fields.identifier(v, "product_id", product_id, required=False)
    v.raise_if_any()


def _reservation_id_for(request_id: str) -> str:
    """A new reservation id, derived from the request id when there is one."""
    # Derived, a retry after a lost answer finds the same reservation instead of holding twice.
    if not request_id:
        return uuid.uuid4().hex
    return "rq-" + hashlib.sha256(request_id.encode()).hexdigest()[:40]

"""InventoryService rules for stock: adjustments and reservations, idempotent per AIP-155."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

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
from estore.inventory.service_batch import answer_all
from estore.inventory.service_products import require_admin_or_service
from estore.inventory.store import InventoryStore
from estore.inventory.store_stock import Hold

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
        entry = ReserveEntry(product_id, quantity, reservation_id, ttl_ms, request_id)
        hold_id, ttl = self._checked(entry)

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

    def _checked(self, entry: ReserveEntry) -> tuple[str, int]:
        """The entry's reservation id and hold time (ms), or INVALID_ARGUMENT."""
        v = Violations()
        rules_fields.identifier(v, "product_id", entry.product_id)
        rules_fields.integer(v, "quantity", entry.quantity, 1, rules_fields.RESERVE_MAX)
        rules_fields.identifier(v, "reservation_id", entry.reservation_id, required=False)
        if entry.ttl_ms is not None and not TTL_MIN_MS <= entry.ttl_ms <= TTL_MAX_MS:
            v.add("ttl", "must be between 1 second and 24 hours")
        rules_fields.request_id(v, entry.request_id)
        v.raise_if_any()
        hold_id = entry.reservation_id or _reservation_id_for(entry.request_id)
        return hold_id, self._default_ttl_ms if entry.ttl_ms is None else entry.ttl_ms

    async def reserve_many(self, caller: Caller, entries: Sequence[ReserveEntry]) -> list[Any]:
        """reserve_stock for each entry, those without a request id in one script; each
        answered with its reservation or its error."""
        now = self._clock()

        def check(entry: ReserveEntry) -> Hold | None:
            hold_id, ttl = self._checked(entry)
            if entry.request_id:  # deduplicated by its request id: through its own call
                return None
            return Hold(entry.product_id, hold_id, entry.quantity, now + ttl)

        async def one(entry: ReserveEntry) -> Reservation:
            return await self.reserve_stock(caller, *astuple(entry))

        async def many(holds: list[Hold]) -> list[Any]:
            return await self._store.stock.reserve_many(holds, now)

        return await answer_all(caller, entries, check, many, one)

    async def commit_many(self, caller: Caller, entries: Sequence[tuple[str, str]]) -> list[Any]:
        """commit_reservation for each (reservation id, product id), in one script when each
        names its product."""
        now = self._clock()

        async def one(entry: tuple[str, str]) -> Reservation:
            return await self.commit_reservation(caller, *entry)

        async def many(holds: list[tuple[str, str]]) -> list[Any]:
            return await self._store.stock.commit_many(holds, now)

        return await answer_all(caller, entries, _checked_finish, many, one)

    async def release_many(self, caller: Caller, entries: Sequence[tuple[str, str]]) -> list[Any]:
        """release_reservation for each (reservation id, product id), as commit_many."""
        now = self._clock()

        async def one(entry: tuple[str, str]) -> Reservation:
            return await self.release_reservation(caller, *entry)

        async def many(holds: list[tuple[str, str]]) -> list[Any]:
            return await self._store.stock.release_many(holds, now)

        return await answer_all(caller, entries, _checked_finish, many, one)

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

    async def expire_due_reservations(self, buckets: Sequence[int] | None = None) -> int:
        """Expire the held reservations that are due in `buckets` (all if None), giving their
        stock back."""
        return await self._store.stock.expire_due(self._clock(), buckets=buckets)


@dataclass(frozen=True)
class ReserveEntry:
    """One ReserveStock request (of a batch)."""

    product_id: str
    quantity: int
    reservation_id: str = ""
    ttl_ms: int | None = None
    request_id: str = ""


def _checked_finish(entry: tuple[str, str]) -> tuple[str, str] | None:
    """A batch's commit or release entry, checked; None when it names no product (its single
    call reads the reservation for it)."""
    _check_fields(*entry)
    return entry if entry[1] else None


def _check_finish(caller: Caller, reservation_id: str, product_id: str) -> None:
    """A service may commit or release `reservation_id`, naming its product or not."""
    caller.require_service()
    _check_fields(reservation_id, product_id)


def _check_fields(reservation_id: str, product_id: str) -> None:
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

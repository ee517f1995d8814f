"""Stock in Redis: adjustments and reservations, each one atomic Lua script."""

from __future__ import annotations

from typing import Any

from estore.common import errors
from estore.common.idempotency import fingerprint
from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import as_hash, product_from_hash, reservation_from_hash
from estore.inventory.errors import (
    InsufficientStock,
    ProductNotFound,
    RequestIdReused,
    ReservationCommitted,
    ReservationExpired,
    ReservationIdReused,
    ReservationNotFound,
    ReservationReleased,
)
from estore.inventory.models import Product, Reservation
from estore.inventory.store_errors import store_errors
from estore.inventory.store_scripts import Scripts

DAY_MS = 24 * 3600 * 1000
# Reservations in a final state are kept this long so that retries still see them.
KEEP_FINAL_MS = DAY_MS
MAX_QUANTITY = 2**31 - 1  # Product.quantity is an int32
SWEEP_BATCH = 100


@store_errors
class StockStore:
    """Available, reserved and sold counters, and the reservations that move units between them."""

    def __init__(self, redis: RedisClient, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    async def adjust(
        self, product_id: str, delta: int, reason: str, now: int, request_id: str = ""
    ) -> Product:
        """Add `delta` to available stock (never below zero); at most once per request id."""
        marker = [store_keys.stock_applied(request_id)] if request_id else []
        # The marker holds what it was set for, so it answers only a retry of the same request.
        applied = fingerprint(product_id, delta, reason)
        script_keys = [
            store_keys.product(product_id),
            store_keys.analytics(product_id),
            *store_keys.stock_sets(),
            store_keys.EVENTS,
            *marker,
        ]
        has_marker = "1" if marker else "0"
        args: list[str | int] = [delta, reason, now, MAX_QUANTITY, has_marker, DAY_MS, applied]
        reply = await self._scripts.adjust_stock(keys=script_keys, args=args)
        status = text(reply[0])
        if status == "REUSED":
            raise RequestIdReused()
        if status == "NOT_FOUND":
            raise ProductNotFound(product_id)
        if status == "INSUFFICIENT":
            raise InsufficientStock(product_id, int(reply[1]))
        if status == "TOO_MANY":
            raise errors.InvalidArgument.field(
                "delta", f"would take the quantity above {MAX_QUANTITY}"
            )
        return product_from_hash(as_hash(reply[1]))

    async def reserve(
        self, product_id: str, reservation_id: str, quantity: int, now: int, expires_at: int
    ) -> Reservation:
        """Hold `quantity` units, or return the existing reservation with this id."""
        script_keys = [
            store_keys.product(product_id),
            store_keys.reservation(reservation_id),
            store_keys.RESERVATION_EXPIRY,
            *store_keys.stock_sets(),
            store_keys.EVENTS,
        ]
        args: list[str | int] = [product_id, reservation_id, quantity, now, expires_at]
        reply = await self._scripts.reserve_stock(keys=script_keys, args=args)
        status = text(reply[0])
        if status == "REUSED":
            raise ReservationIdReused(reservation_id)
        if status == "NOT_FOUND":
            raise ProductNotFound(product_id)
        if status == "INSUFFICIENT":
            raise InsufficientStock(product_id, int(reply[1]))
        return reservation_from_hash(as_hash(reply[1]))

    async def get_reservation(self, reservation_id: str) -> Reservation | None:
        """The reservation, or None."""
        found = await self._redis.hgetall(store_keys.reservation(reservation_id))
        return reservation_from_hash(as_hash(found)) if found else None

    async def _finish(
        self, script: Any, reservation_id: str, now: int, product_id: str
    ) -> tuple[str, Reservation]:
        """Run a commit or release script; `product_id` ('' if the caller named none) saves
        reading the reservation for its product first."""
        named = product_id
        if not named:
            found = await self._redis.hget(store_keys.reservation(reservation_id), "product_id")
            if found is None:
                raise ReservationNotFound(reservation_id)
            product_id = text(found)
        script_keys = [
            store_keys.reservation(reservation_id),
            store_keys.product(product_id),
            store_keys.RESERVATION_EXPIRY,
            *store_keys.stock_sets(),
            store_keys.EVENTS,
        ]
        reply = await script(keys=script_keys, args=[now, KEEP_FINAL_MS, named])
        status = text(reply[0])
        if status == "NOT_FOUND":
            raise ReservationNotFound(reservation_id)
        if status == "WRONG_PRODUCT":
            raise errors.InvalidArgument.field("product_id", "is not the reservation's product")
        return status, reservation_from_hash(as_hash(reply[1]))

    async def commit(self, reservation_id: str, now: int, product_id: str = "") -> Reservation:
        """Sell a held reservation's units; a committed one is returned unchanged."""
        status, reservation = await self._finish(
            self._scripts.commit_reservation, reservation_id, now, product_id
        )
        if status == "EXPIRED":
            raise ReservationExpired(reservation_id)
        if status == "RELEASED":
            raise ReservationReleased(reservation_id)
        return reservation

    async def release(self, reservation_id: str, now: int, product_id: str = "") -> Reservation:
        """Give a held reservation's units back; a released or expired one is returned as is."""
        status, reservation = await self._finish(
            self._scripts.release_reservation, reservation_id, now, product_id
        )
        if status == "COMMITTED":
            raise ReservationCommitted(reservation_id)
        return reservation

    async def expire_due(self, now: int, batch: int = SWEEP_BATCH) -> int:
        """Expire up to `batch` held reservations due by `now`; returns how many this call did."""
        return await self.expire(await self.due(now, batch), now)

    async def count_held(self) -> int:
        """How many reservations hold stock right now."""
        return int(await self._redis.zcard(store_keys.RESERVATION_EXPIRY))

    async def due(self, now: int, batch: int = SWEEP_BATCH) -> list[str]:
        """Ids of up to `batch` reservations whose expiry is at or before `now`."""
        due = await self._redis.zrange(
            store_keys.RESERVATION_EXPIRY, "-inf", now, byscore=True, offset=0, num=batch
        )
        return [text(member) for member in due]

    async def expire(self, reservation_ids: list[str], now: int) -> int:
        """Expire those of `reservation_ids` still held and due; returns how many it expired."""
        if not reservation_ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for reservation_id in reservation_ids:
                pipe.hget(store_keys.reservation(reservation_id), "product_id")
            product_ids = await pipe.execute()
        script_keys = [store_keys.RESERVATION_EXPIRY, *store_keys.stock_sets(), store_keys.EVENTS]
        for reservation_id, product_id in zip(reservation_ids, product_ids, strict=True):
            # A vanished reservation still gets a product key (of nothing) to keep pairs aligned.
            script_keys += [
                store_keys.reservation(reservation_id),
                store_keys.product(text(product_id) if product_id else ""),
            ]
        expired = await self._scripts.expire_reservations(
            keys=script_keys, args=[now, KEEP_FINAL_MS, *reservation_ids]
        )
        return int(expired)

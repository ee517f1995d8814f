"""Stock in Redis: adjustments and reservations, each one atomic Lua script."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from estore.common import errors
from estore.common.errors import DomainError
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
        return _held(reply, product_id, reservation_id)

    async def reserve_many(
        self, holds: Sequence[Hold], now: int
    ) -> list[Reservation | DomainError]:
        """`reserve` for each hold, in one script; each answered on its own (its reservation,
        or the error `reserve` would raise)."""
        script_keys = [store_keys.RESERVATION_EXPIRY, *store_keys.stock_sets(), store_keys.EVENTS]
        args: list[str | int] = [now]
        for hold in holds:
            script_keys += [store_keys.product(hold.product_id), store_keys.reservation(hold.id)]
            args += [hold.product_id, hold.id, hold.quantity, hold.expires_at]
        replies = await self._scripts.reserve_stock_batch(keys=script_keys, args=args)
        return [
            _answer(_held, reply, hold.product_id, hold.id)
            for hold, reply in zip(holds, replies, strict=True)
        ]

    async def get_reservation(self, reservation_id: str) -> Reservation | None:
        """The reservation, or None."""
        found = await self._redis.hgetall(store_keys.reservation(reservation_id))
        return reservation_from_hash(as_hash(found)) if found else None

    async def _finish(self, script: Any, reservation_id: str, now: int, product_id: str) -> Any:
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
        return await script(keys=script_keys, args=[now, KEEP_FINAL_MS, named])

    async def _finish_many(
        self, script: Any, holds: Sequence[tuple[str, str]], now: int
    ) -> list[Any]:
        """Run a batch commit or release script for (reservation id, product id) pairs."""
        script_keys = [store_keys.RESERVATION_EXPIRY, *store_keys.stock_sets(), store_keys.EVENTS]
        args: list[str | int] = [now, KEEP_FINAL_MS]
        for reservation_id, product_id in holds:
            script_keys += [store_keys.reservation(reservation_id), store_keys.product(product_id)]
            args.append(product_id)
        replies: list[Any] = await script(keys=script_keys, args=args)
        return replies

    async def commit(self, reservation_id: str, now: int, product_id: str = "") -> Reservation:
        """Sell a held reservation's units; a committed one is returned unchanged."""
        script = self._scripts.commit_reservation
        return _committed(
            await self._finish(script, reservation_id, now, product_id), reservation_id
        )

    async def commit_many(
        self, holds: Sequence[tuple[str, str]], now: int
    ) -> list[Reservation | DomainError]:
        """`commit` for each (reservation id, product id), in one script; each on its own."""
        replies = await self._finish_many(self._scripts.commit_reservation_batch, holds, now)
        return [_answer(_committed, r, rid) for (rid, _), r in zip(holds, replies, strict=True)]

    async def release(self, reservation_id: str, now: int, product_id: str = "") -> Reservation:
        """Give a held reservation's units back; a released or expired one is returned as is."""
        script = self._scripts.release_reservation
        return _released(
            await self._finish(script, reservation_id, now, product_id), reservation_id
        )

    async def release_many(
        self, holds: Sequence[tuple[str, str]], now: int
    ) -> list[Reservation | DomainError]:
        """`release` for each (reservation id, product id), in one script; each on its own."""
        replies = await self._finish_many(self._scripts.release_reservation_batch, holds, now)
        return [_answer(_released, r, rid) for (rid, _), r in zip(holds, replies, strict=True)]

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


@dataclass(frozen=True)
class Hold:
    """One hold of a batch: `quantity` units of a product for reservation `id` until then."""

    product_id: str
    id: str
    quantity: int
    expires_at: int


def _answer(read: Callable[..., Reservation], *args: Any) -> Reservation | DomainError:
    """A batch entry's answer: what `read` makes of its reply, or the error it raises."""
    try:
        return read(*args)
    except DomainError as error:
        return error


def _held(reply: Any, product_id: str, reservation_id: str) -> Reservation:
    status = text(reply[0])
    if status == "REUSED":
        raise ReservationIdReused(reservation_id)
    if status == "NOT_FOUND":
        raise ProductNotFound(product_id)
    if status == "INSUFFICIENT":
        raise InsufficientStock(product_id, int(reply[1]))
    return reservation_from_hash(as_hash(reply[1]))


def _finished(reply: Any, reservation_id: str) -> tuple[str, Reservation]:
    status = text(reply[0])
    if status == "NOT_FOUND":
        raise ReservationNotFound(reservation_id)
    if status == "WRONG_PRODUCT":
        raise errors.InvalidArgument.field("product_id", "is not the reservation's product")
    return status, reservation_from_hash(as_hash(reply[1]))


def _committed(reply: Any, reservation_id: str) -> Reservation:
    status, reservation = _finished(reply, reservation_id)
    if status == "EXPIRED":
        raise ReservationExpired(reservation_id)
    if status == "RELEASED":
        raise ReservationReleased(reservation_id)
    return reservation


def _released(reply: Any, reservation_id: str) -> Reservation:
    status, reservation = _finished(reply, reservation_id)
    if status == "COMMITTED":
        raise ReservationCommitted(reservation_id)
    return reservation

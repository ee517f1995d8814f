"""Stock in Redis: adjustments and reservations, each one atomic Lua script."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from estore.common import errors
from estore.common.buckets import bucket_of
from estore.common.errors import DomainError
from estore.common.idempotency import fingerprint
from estore.common.redis import text
from estore.inventory import store_keys, store_reservation_owners
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
from estore.inventory.store_expiry import (
    DAY_MS,
    KEEP_FINAL_MS,
    ReservationExpiry,
    by_bucket,
    in_order,
)

MAX_QUANTITY = 2**31 - 1  # Product.quantity is an int32


@store_errors
class StockStore(ReservationExpiry):
    """Available, reserved and sold counters, and the reservations that move units between them."""

    async def adjust(
        self, product_id: str, delta: int, reason: str, now: int, request_id: str = ""
    ) -> Product:
        """Add `delta` to available stock (never below zero); at most once per request id."""
        marker = [store_keys.stock_applied(product_id, request_id)] if request_id else []
        # The marker holds what it was set for, so it answers only a retry of the same request.
        applied = fingerprint(product_id, delta, reason)
        script_keys = [
            store_keys.product(product_id),
            store_keys.analytics(product_id),
            store_keys.bucket_events(bucket_of(product_id)),
            *marker,
        ]
        has_marker = "1" if marker else "0"
        args: list[str | int] = [delta, reason, now, MAX_QUANTITY, has_marker, DAY_MS, applied]
        reply = await self._writer.run(self._scripts.adjust_stock, script_keys, args)
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
        hold = Hold(product_id, reservation_id, quantity, expires_at)
        (answer,) = await self._reserve_replies([hold], now)
        return _held(answer, product_id, reservation_id)

    async def reserve_many(
        self, holds: Sequence[Hold], now: int
    ) -> list[Reservation | DomainError]:
        """`reserve` for each hold, in one script per bucket; each answered on its own (its
        reservation, or the error `reserve` would raise)."""
        replies = await self._reserve_replies(holds, now)
        return [
            _answer(_held, reply, hold.product_id, hold.id)
            for hold, reply in zip(holds, replies, strict=True)
        ]

    async def _reserve_replies(self, holds: Sequence[Hold], now: int) -> list[Any]:
        """reserve_stock_batch.lua's reply for each hold, a script per bucket at once; REUSED
        for a reservation id another product holds. Each id is claimed for its product in the
        index slot before its hold (store_reservation_owners.py): an id is one product's while
        its reservation exists and for a grace after, then free again; a claim left by a hold
        that never ran is harmless and lapses likewise."""
        mine = await store_reservation_owners.claim(self._redis, holds, now)
        claimed = [hold for hold, ok in zip(holds, mine, strict=True) if ok]
        replies = iter(await self._hold(claimed, now))
        return [next(replies) if ok else [b"REUSED"] for ok in mine]

    async def _hold(self, holds: Sequence[Hold], now: int) -> list[Any]:
        """reserve_stock_batch.lua's reply for each hold, a script per bucket at once."""
        if not holds:
            return []
        groups = by_bucket(holds, lambda hold: hold.product_id)
        calls = []
        for bucket, entries in groups.items():
            script_keys = [store_keys.bucket_expiry(bucket), store_keys.bucket_events(bucket)]
            args: list[str | int] = [now]
            for _, hold in entries:
                script_keys += [
                    store_keys.product(hold.product_id),
                    store_keys.reservation(hold.product_id, hold.id),
                ]
                args += [hold.product_id, hold.id, hold.quantity, hold.expires_at]
            calls.append((self._scripts.reserve_stock_batch, script_keys, args))
            soonest = min(hold.expires_at for _, hold in entries)
            self._expiring[bucket] = min(self._expiring.get(bucket, soonest), soonest)
        return in_order(groups, await self._writer.run_many(calls), len(holds))

    async def product_of(self, reservation_id: str) -> str | None:
        """The product a reservation holds (its claim in the index slot, made before its hold)."""
        (found,) = await store_reservation_owners.products_of(self._redis, [reservation_id])
        return found

    async def get_reservation(
        self, reservation_id: str, product_id: str = ""
    ) -> Reservation | None:
        """The reservation, or None."""
        product_id = product_id or await self.product_of(reservation_id) or ""
        if not product_id:
            return None
        found = await self._redis.hgetall(store_keys.reservation(product_id, reservation_id))
        return reservation_from_hash(as_hash(found)) if found else None

    async def _finish(self, script: Any, reservation_id: str, now: int, product_id: str) -> Any:
        """Run a commit or release batch script for one reservation."""
        (reply,) = await self._finish_many(script, [(reservation_id, product_id)], now)
        return reply

    async def _finish_many(
        self, script: Any, holds: Sequence[tuple[str, str]], now: int
    ) -> list[Any]:
        """Run a batch commit or release script per bucket for (reservation id, product id)
        pairs; a pair naming no product ('') finds it by its claim (None: no such reservation)."""
        unnamed = [rid for rid, pid in holds if not pid]
        found = await store_reservation_owners.products_of(self._redis, unnamed)
        products = dict(zip(unnamed, (p or "" for p in found), strict=True))
        known = [(rid, pid or products[rid], pid) for rid, pid in holds if pid or products[rid]]
        groups = by_bucket(known, lambda entry: entry[1])
        calls = []
        for bucket, entries in groups.items():
            script_keys = [store_keys.bucket_expiry(bucket), store_keys.bucket_events(bucket)]
            args: list[str | int] = [now, KEEP_FINAL_MS]
            for _, (reservation_id, product_id, named) in entries:
                script_keys += [
                    store_keys.reservation(product_id, reservation_id),
                    store_keys.product(product_id),
                ]
                args.append(named)
            calls.append((script, script_keys, args))
        replies = in_order(groups, await self._writer.run_many(calls), len(known))
        answers = dict(zip((rid for rid, _, _ in known), replies, strict=True))
        await self._named_another(holds, answers)
        return [answers.get(rid) for rid, _ in holds]

    async def _named_another(
        self, holds: Sequence[tuple[str, str]], answers: dict[str, Any]
    ) -> None:
        """A reservation not found in the bucket of the product named may be another
        product's: its claim says so, and the answer is WRONG_PRODUCT (as if found)."""
        missing = [rid for rid, pid in holds if pid and text(answers[rid][0]) == "NOT_FOUND"]
        if not missing:
            return
        found = await store_reservation_owners.products_of(self._redis, missing)
        for rid, product in zip(missing, found, strict=True):
            if product is not None:
                answers[rid] = [b"WRONG_PRODUCT"]

    async def commit(self, reservation_id: str, now: int, product_id: str = "") -> Reservation:
        """Sell a held reservation's units; a committed one is returned unchanged."""
        script = self._scripts.commit_reservation_batch
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
        script = self._scripts.release_reservation_batch
        return _released(
            await self._finish(script, reservation_id, now, product_id), reservation_id
        )

    async def release_many(
        self, holds: Sequence[tuple[str, str]], now: int
    ) -> list[Reservation | DomainError]:
        """`release` for each (reservation id, product id), in one script; each on its own."""
        replies = await self._finish_many(self._scripts.release_reservation_batch, holds, now)
        return [_answer(_released, r, rid) for (rid, _), r in zip(holds, replies, strict=True)]


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
    if reply is None:  # no product found for it
        raise ReservationNotFound(reservation_id)
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

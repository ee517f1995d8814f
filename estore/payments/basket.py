"""Baskets: the lines a client asks for, and reserving every line of an order or none.

A basket of several lines is reserved line by line, all at once, in InventoryService. Each
reservation is an atomic check-and-hold on one product that never waits for another, so two
baskets sharing products cannot deadlock; when a line fails, every line already held is released
before the error is told, so no basket is left holding part of its lines. Before the first
hold, the attempt is recorded (an intent, under a lease that the call renews while it reserves):
if Payments dies between two holds, recovery finds the intent once the lease lapses and releases
every line, long before the holds would expire by themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from estore.common.errors import DomainError, FieldViolation, InvalidArgument, Unavailable
from estore.common.leases import kept_alive
from estore.common.tasks import settled
from estore.payments.codec import to_ms
from estore.payments.errors import (
    InsufficientStock,
    InventoryBusy,
    ProductNotFound,
    ReservationLost,
)
from estore.payments.inventory_client import Reservation
from estore.payments.rules import (
    MAX_QUANTITY,
    Inventory,
    PaymentsConfig,
    check_id,
    check_quantity,
    id_problem,
)
from estore.payments.store import PaymentStore
from estore.payments.store_baskets import BasketStore

log = logging.getLogger("estore.payments.baskets")
MAX_LINES = 50


@dataclass(frozen=True)
class BasketLine:
    """One line as the client asks for it: a product and how many units."""

    product_id: str
    quantity: int


def check_lines(items: Sequence[tuple[str, int]], field: str = "items") -> tuple[BasketLine, ...]:
    """1 to 50 well-formed lines, each product once; INVALID_ARGUMENT naming every bad one."""
    if not 1 <= len(items) <= MAX_LINES:
        raise InvalidArgument.field(field, f"must hold 1 to {MAX_LINES} lines")
    violations: list[FieldViolation] = []
    seen: set[str] = set()
    for i, (product_id, quantity) in enumerate(items):
        problem = id_problem(product_id) or ("appears on two lines" if product_id in seen else "")
        if problem:
            violations.append(FieldViolation(f"{field}[{i}].product_id", problem))
        if not 1 <= quantity <= MAX_QUANTITY:
            problem = f"must be 1 to {MAX_QUANTITY}"
            violations.append(FieldViolation(f"{field}[{i}].quantity", problem))
        seen.add(product_id)
    if violations:
        fields = ", ".join(v.field for v in violations)
        raise InvalidArgument(f"invalid lines: {fields}", violations=violations)
    return tuple(BasketLine(product_id, quantity) for product_id, quantity in items)


def asked_lines(
    product_id: str, quantity: int, items: Sequence[tuple[str, int]], request_id: str
) -> tuple[tuple[BasketLine, ...], bool]:
    """The lines asked for, checked, and whether they came as `items` (so errors name them)."""
    if not items:  # checked in the order they always were
        check_id("product_id", product_id)
        check_id("request_id", request_id, required=False)
        check_quantity(quantity)
        return (BasketLine(product_id, quantity),), False
    if product_id or quantity:
        raise InvalidArgument.field(
            "items", "set either items or product_id and quantity, not both"
        )
    lines = check_lines(items)
    check_id("request_id", request_id, required=False)
    return lines, True


def canonical(lines: Sequence[BasketLine]) -> list[tuple[str, int]]:
    """The lines in a fixed order: two requests with the same lines compare (and hash) equal."""
    return sorted((line.product_id, line.quantity) for line in lines)


def reservation_ids(order_id: str, lines: Sequence[BasketLine]) -> list[str]:
    """Each line's reservation id, derived from the order id and the line, so a retry finds it.

    A one-line order's is the order id itself, as before baskets. Several lines are numbered by
    their product's rank in the basket, which does not depend on the order the client listed
    them in.
    """
    if len(lines) == 1:
        return [order_id]
    rank = {product_id: k for k, (product_id, _) in enumerate(canonical(lines))}
    return [f"{order_id}-{rank[line.product_id]}" for line in lines]


class Baskets:
    """Holds every line of a new order or none, and undoes the holds of a dead attempt."""

    def __init__(
        self,
        store: PaymentStore,
        inventory: Inventory,
        config: PaymentsConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._intents: BasketStore = store.baskets
        self._inventory = inventory
        self._config = config
        self._clock = clock

    async def reserve(
        self, order_id: str, lines: Sequence[BasketLine], *, named: bool
    ) -> list[Reservation]:
        """Hold every line, or release what was held and raise the first line's failure.

        `named`: the lines came as `items`, so a failure names its line (items[i]).
        """
        ids = reservation_ids(order_id, lines)
        ttl = self._config.reservation_ttl_seconds
        if len(lines) == 1:  # one hold: nothing to undo if it fails, and no intent to record
            line = lines[0]
            try:
                held = [await self._inventory.reserve(line.product_id, line.quantity, ids[0], ttl)]
            except DomainError as error:
                raise _naming(error, 0, named) from None
        else:
            held = await self._reserve_lines(order_id, lines, ids)
        if any(reservation.state != "HELD" for reservation in held):
            if len(lines) > 1:
                await self._undo(order_id, lines, ids, settled=True)
            raise ReservationLost(
                "the stock hold for this request has lapsed; use a new request_id"
            )
        return held

    async def _reserve_lines(
        self, order_id: str, lines: Sequence[BasketLine], ids: list[str]
    ) -> list[Reservation]:
        plan = [(line.product_id, line.quantity, rid) for line, rid in zip(lines, ids, strict=True)]
        await self._intents.begin(order_id, plan, self._lease_until())

        async def renew() -> bool:
            return await self._store.renew("creating", order_id, self._lease_until())

        ttl = self._config.reservation_ttl_seconds
        async with kept_alive(renew, self._config.lease_seconds / 3, f"basket {order_id}"):
            outcomes = await settled(
                *(self._inventory.reserve(p, q, rid, ttl) for p, q, rid in plan)
            )
        failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
        if not failures:
            return [o for o in outcomes if isinstance(o, Reservation)]
        # A call that timed out may still land: then recovery releases once more, later.
        unsure = any(isinstance(o, Unavailable | InventoryBusy) for _, o in failures)
        await self._undo(order_id, lines, ids, settled=not unsure)
        raise _first_failure(failures, named=True)

    async def _undo(
        self, order_id: str, lines: Sequence[BasketLine], ids: list[str], *, settled: bool
    ) -> None:
        """Release every line; forget the intent once no hold can be left behind."""
        try:
            await self.release(list(zip(ids, (line.product_id for line in lines), strict=True)))
            if settled:
                await self._intents.drop(order_id)
        except Exception:  # recovery releases them once the attempt's lease lapses
            log.warning("could not release the lines of %s yet", order_id, exc_info=True)

    async def release(self, holds: Sequence[tuple[str, str]]) -> None:
        """Release each (reservation id, product id) hold (one never made, or already released,
        is fine); raise if one fails."""
        outcomes = await settled(*(self._inventory.release(rid, pid) for rid, pid in holds))
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        for error in failed:
            if not isinstance(error, ReservationLost):
                raise error

    async def abandon(self, order_id: str) -> bool:
        """Recovery: release the lines of an attempt whose call died before writing its order."""
        plan = await self._intents.abandon(order_id)
        if plan is None:  # written (the order's own recovery takes it from here), or gone
            return False
        await self.release([(rid, pid) for pid, _, rid in plan])
        await self._intents.drop(order_id)
        log.info("released the %d lines of order %s, whose call died", len(plan), order_id)
        return True

    def _lease_until(self) -> int:
        return to_ms(self._clock() + timedelta(seconds=self._config.lease_seconds))


def _naming(error: DomainError, index: int, named: bool) -> DomainError:
    """`error`, with a BadRequest violation naming line `index` when the lines were named."""
    if not named:
        return error
    if isinstance(error, InsufficientStock):
        error.violations = [FieldViolation(f"items[{index}].quantity", "not enough stock")]
    elif isinstance(error, ProductNotFound):
        error.violations = [FieldViolation(f"items[{index}].product_id", "no such product")]
    elif isinstance(error, InvalidArgument):
        error.violations = [
            FieldViolation(f"items[{index}].{v.field}", v.description) for v in error.violations
        ]
    return error


def _first_failure(failures: list[tuple[int, BaseException]], *, named: bool) -> BaseException:
    """The failure to report: the first line refused for good, else the first failure."""
    final = [
        (i, e)
        for i, e in failures
        if isinstance(e, DomainError) and not isinstance(e, Unavailable | InventoryBusy)
    ]
    index, error = (final or failures)[0]
    return _naming(error, index, named) if isinstance(error, DomainError) else error

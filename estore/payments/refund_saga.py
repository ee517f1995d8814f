"""The refund saga: decide, return the money once, return the stock once, settle; and finishing
refunds that a crash or an outage left half done."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from estore.common.errors import Aborted
from estore.common.leases import kept_alive
from estore.payments.codec import to_ms, truncate_ms
from estore.payments.errors import (
    InventoryBusy,
    OrderNotFound,
    OrderNotRefundable,
    ProcessorUnavailable,
    ProductNotFound,
    RefundExceedsRemaining,
    RefundRefused,
)
from estore.payments.models import Order, OrderStatus, Refund, RefundState
from estore.payments.processor import Processor, RefundOutcome, RefundResult
from estore.payments.rules import Inventory, Lines, PaymentsConfig, line_refund_amount
from estore.payments.store import PaymentStore
from estore.payments.store_refunds import Decision, RefundStore, in_progress_member

log = logging.getLogger("estore.payments.refunds")
REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
RESTOCK_REASON = "order refunded"  # part of the restock's request fingerprint: never change it


class RefundSaga:
    """Refunds paid orders, each refund once, and finishes refunds left in progress."""

    def __init__(
        self,
        store: PaymentStore,
        refunds: RefundStore,
        inventory: Inventory,
        processor: Processor,
        config: PaymentsConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._refunds = refunds
        self._inventory = inventory
        self._processor = processor
        self._config = config
        self._clock = clock

    async def refund(
        self,
        author: int,
        order_id: str,
        amount: int | None,
        reason: str,
        restock: bool,
        request_id: str,
        lines: Lines = (),
    ) -> Order:
        """Decide a refund by amount or by `lines` (or find the one this request decided
        before), then finish it."""
        order, refund = await self._decide(
            author, order_id, amount, reason, restock, request_id, lines
        )
        return await self.finish(order, refund)

    async def _decide(
        self,
        author: int,
        order_id: str,
        amount: int | None,
        reason: str,
        restock: bool,
        request_id: str,
        lines: Lines,
    ) -> tuple[Order, Refund]:
        refund_id = refund_id_for(order_id, author, request_id)
        for _ in range(5):  # compare-and-set; a concurrent refund makes us read again
            order = await self._load(order_id)
            earlier = find_refund(order, refund_id)
            if earlier is not None:  # an interrupted attempt of this request decided it
                return order, earlier
            value = _refundable(order, amount, lines)
            refund = Refund(
                value, reason, False, truncate_ms(self._clock()), author, request_id,
                refund_id, RefundState.PENDING, restock, lines=lines,
            )  # fmt: skip
            decision = await self._refunds.decide(order, refund, self._lease_until())
            if decision is Decision.DECIDED:
                return order, refund
            if decision is Decision.MISSING:
                raise OrderNotFound("no such order")
        raise Aborted("the order keeps changing; try again", reason="CONCURRENT_MODIFICATION")

    async def finish(self, order: Order, refund: Refund) -> Order:
        """Take a decided refund as far as it goes now: money, then stock, then settled."""
        if refund.state is RefundState.FAILED:
            raise _refused(order, refund, "")
        if refund.state is RefundState.COMPLETED:
            return order
        member = in_progress_member(order.id, refund.id)

        async def renew() -> bool:
            return await self._store.renew("refunds", member, self._lease_until())

        async with kept_alive(renew, self._config.lease_seconds / 3, f"refund {member}"):
            units = refund.units
            if refund.state is RefundState.PENDING:
                units = await self._return_money(order, refund)
            await self._restock(refund, units)
            await self._refunds.settle(order, refund, to_ms(self._clock()))
        return await self._load(order.id)

    async def _return_money(self, order: Order, refund: Refund) -> tuple[tuple[str, int], ...]:
        """Refund at the processor (once, whatever the retries); then claim the units to restock."""
        result = await self._refund_with_retries(order, refund)
        if result.outcome is RefundOutcome.REFUSED:
            await self._refunds.roll_back(order, refund, to_ms(self._clock()))
            raise _refused(order, refund, result.refusal)
        if result.outcome is RefundOutcome.PROCESSOR_ERROR:
            raise ProcessorUnavailable(
                "the card processor is unavailable; the refund stays in progress and is "
                "finished by a retry or by recovery",
                metadata={"order_id": order.id, "refund_id": refund.id},
            )
        _, units = await self._refunds.returned(order, refund.id, restock_asked(order, refund))
        return units

    async def _refund_with_retries(self, order: Order, refund: Refund) -> RefundResult:
        result = RefundResult(RefundOutcome.PROCESSOR_ERROR)
        for attempt in range(self._config.charge_attempts):
            if attempt:
                await asyncio.sleep(self._config.retry_pause_seconds * 2**attempt)
            result = await self._processor.refund(
                order.charge_id, refund.amount_minor, refund_key(order, refund)
            )
            if result.outcome is not RefundOutcome.PROCESSOR_ERROR:
                break
        return result

    async def _restock(self, refund: Refund, units: tuple[tuple[str, int], ...]) -> None:
        """Return the refund's units to Inventory, once (the request id derives from the refund)."""
        for product_id, quantity in units:
            request_id = f"refund:{refund.id}:{product_id}"
            for attempt in range(self._config.charge_attempts):
                try:
                    await self._inventory.restock(product_id, quantity, request_id, RESTOCK_REASON)
                    break
                except InventoryBusy:  # another runner of this refund restocks it right now
                    if attempt == self._config.charge_attempts - 1:
                        raise
                    await asyncio.sleep(self._config.retry_pause_seconds * 2**attempt)
                except ProductNotFound:  # deleted since: there is no shelf to return units to
                    log.warning("refund %s: product %s is gone", refund.id, product_id)
                    break

    async def recover(self, member: str) -> bool:
        """Finish (or roll back) one refund left in progress; False if there was none."""
        order_id, _, refund_id = member.partition(":")
        order = await self._store.get_order(order_id)
        refund = find_refund(order, refund_id) if order is not None else None
        if order is None or refund is None or not refund.state.in_progress:
            await self._store.forget_due("refunds", member)
            return False
        try:
            await self.finish(order, refund)
        except RefundRefused:
            log.warning("refund %s of order %s was refused; rolled back", refund_id, order_id)
        return True

    def _lease_until(self) -> int:
        return to_ms(self._clock() + timedelta(seconds=self._config.lease_seconds))

    async def _load(self, order_id: str) -> Order:
        order = await self._store.get_order(order_id)
        if order is None:
            raise OrderNotFound("no such order")
        return order


def _refundable(order: Order, amount: int | None, lines: Lines) -> int:
    """How much this refund returns: `amount`, what `lines` come to, or all that is left;
    refused past what is left."""
    if order.status not in REFUNDABLE:
        raise OrderNotRefundable(f"the order is {order.status.value}")
    remaining = order.total_minor - order.refund_amount_minor
    if lines:
        amount = line_refund_amount(order, lines)
    value = remaining if amount is None else amount
    if not 0 < value <= remaining:
        pending = any(r.state.in_progress for r in order.refunds)
        raise RefundExceedsRemaining(
            f"at most {remaining} minor units remain refundable"
            + (f"; these lines come to {value}" if lines else "")
            + (" (refunds in progress count)" if pending else "")
        )
    return value


def restock_asked(order: Order, refund: Refund) -> Lines:
    """The units a refund asks to return: its lines', or by amount every unit of the order."""
    if not refund.restock:
        return ()
    return refund.lines or tuple((line.product_id, line.quantity) for line in order.lines)


def _refused(order: Order, refund: Refund, why: str) -> RefundRefused:
    return RefundRefused(
        f"the card processor refused this refund{f' ({why})' if why else ''}; nothing was refunded",
        metadata={"order_id": order.id, "refund_id": refund.id},
    )


def find_refund(order: Order, refund_id: str) -> Refund | None:
    return next((r for r in order.refunds if r.id == refund_id), None)


def refund_id_for(order_id: str, author: int, request_id: str) -> str:
    """A refund's id: derived from the request id when there is one, so a retry finds it."""
    if not request_id:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{order_id}:{author}:{request_id}".encode()).hexdigest()[:32]


def refund_key(order: Order, refund: Refund) -> str:
    """The processor's idempotency key of one refund."""
    return f"{order.id}:refund:{refund.id}"

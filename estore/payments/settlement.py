"""Settling orders: paid (the hold committed), failed (the hold released), back to pending,
and finishing or undoing what a crashed call left PROCESSING."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from estore.payments.codec import to_ms, truncate_ms
from estore.payments.errors import ProcessorUnavailable, ReservationLost
from estore.payments.models import Order, OrderStatus, PaymentStatus
from estore.payments.processor import ChargeOutcome, Processor, RefundOutcome
from estore.payments.rules import Inventory, PaymentsConfig, charge_key
from estore.payments.store import PaymentStore, Transition

log = logging.getLogger("estore.payments")
UNSELL_REASON = "sale undone"  # part of the unsell's request fingerprint: never change it


class Settlement:
    """The ends of an order's payment, each safe to run twice and from any instance."""

    def __init__(
        self,
        store: PaymentStore,
        inventory: Inventory,
        processor: Processor,
        config: PaymentsConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._inventory = inventory
        self._processor = processor
        self._config = config
        self._clock = clock

    async def paid(self, order: Order, charge_id: str) -> Order:
        """Charged: commit the hold, then PAID; if the hold lapsed, refund and cancel."""
        try:
            await self._inventory.commit(order.reservation_id)
        except ReservationLost:
            await self.void(order, charge_id)
            await self.failed(order, "RESERVATION_EXPIRED")
            raise
        paid = replace(
            order,
            status=OrderStatus.PAID,
            payment_status=PaymentStatus.COMPLETED,
            charge_id=charge_id,
            payment_error="",
            updated_at=truncate_ms(self._clock()),
        )
        change = Transition(
            OrderStatus.PAID,
            {"payment_status": paid.payment_status.value, "charge_id": charge_id,
             "payment_error": "", "updated_at": to_ms(paid.updated_at)},
            expect_payment_status=PaymentStatus.PROCESSING.value,
        )  # fmt: skip
        outcome = await self._store.transition(order, change)
        if not outcome.applied and outcome.status != OrderStatus.PAID.value:
            # Recovery gave up on this order while the charge was still running (its owner
            # stalled past the lease): undo the sale, the money and the units both.
            log.warning("order %s was settled elsewhere as %s; voiding it", order.id, outcome)
            await self.void(order, charge_id)
            await self.unsell(order)
            raise ReservationLost("the order was cancelled while it was being paid; not charged")
        return paid

    async def void(self, order: Order, charge_id: str) -> None:
        """Refund a whole charge whose sale did not happen; UNAVAILABLE until it is done."""
        for attempt in range(self._config.charge_attempts):
            if attempt:
                await asyncio.sleep(self._config.retry_pause_seconds * 2**attempt)
            result = await self._processor.refund(charge_id, order.total_minor, f"{order.id}:void")
            if result.outcome is RefundOutcome.REFUSED:
                log.error("order %s: the processor refused to void %s", order.id, charge_id)
            if result.outcome is not RefundOutcome.PROCESSOR_ERROR:
                return
        raise ProcessorUnavailable(
            "the card processor is unavailable; the order is settled later",
            metadata={"order_id": order.id},
        )

    async def unsell(self, order: Order) -> None:
        """Return the units of a committed hold whose sale did not happen (once per order)."""
        await self._inventory.restock(
            order.product_id, order.quantity, f"unsell:{order.id}", UNSELL_REASON
        )

    async def failed(self, order: Order, error: str) -> None:
        """Declined or interrupted: the stock released, then CANCELLED with FAILED payment."""
        # Release first: an order reads CANCELLED only once its stock is back (or, with
        # Inventory unreachable, once the hold is left to expire by itself).
        if not await self.release_quietly(order):
            # The hold was committed, yet the charge did not succeed: no sale, so the units go
            # back to the shelf before the order is cancelled.
            log.warning("order %s: its hold was committed without a charge; unselling", order.id)
            await self.unsell(order)
        change = Transition(
            OrderStatus.CANCELLED,
            {"payment_status": PaymentStatus.FAILED.value, "payment_error": error,
             "cancel_reason": "PAYMENT_FAILED", "updated_at": to_ms(self._clock())},
            expect_payment_status=PaymentStatus.PROCESSING.value,
        )  # fmt: skip
        await self._store.transition(order, change)

    async def back_to_pending(self, order: Order) -> None:
        change = Transition(
            OrderStatus.PENDING,
            {"payment_status": PaymentStatus.PENDING.value,
             "payment_error": ProcessorUnavailable.reason, "updated_at": to_ms(self._clock())},
            expect_payment_status=PaymentStatus.PROCESSING.value,
            expiring_at_ms=str(to_ms(order.expires_at)),
        )  # fmt: skip
        await self._store.transition(order, change)

    async def release_quietly(self, order: Order) -> bool:
        """Release the hold; False only when the stock was sold (committed) by another call.

        If Inventory cannot be reached, the hold expires by itself.
        """
        try:
            await self._inventory.release(order.reservation_id)
        except ReservationLost as lost:
            return lost.reason != "RESERVATION_COMMITTED"
        except Exception:
            log.warning("could not release %s; it will expire", order.reservation_id)
        return True

    async def resume(self, order: Order) -> Order:
        """Finish or undo an order a crashed call left PROCESSING, as the processor says."""
        if order.payment_status is not PaymentStatus.PROCESSING:
            await self._store.forget_due("processing", order.id)
            return order
        result = await self._processor.find_charge(charge_key(order))
        if result is not None and result.outcome is ChargeOutcome.SUCCEEDED:
            return await self.paid(order, result.charge_id)
        error = result.decline_code if result is not None else "INTERRUPTED"
        await self.failed(order, error)
        return await self._store.get_order(order.id) or order

    async def expire(self, order: Order) -> None:
        """An unpaid order whose hold ran out: CANCELLED, and the hold released."""
        if order.status is not OrderStatus.PENDING:  # settled since: nothing left to expire
            await self._store.forget_due("expiring", order.id)
            return
        change = Transition(
            OrderStatus.CANCELLED,
            {"cancel_reason": "RESERVATION_EXPIRED", "updated_at": to_ms(self._clock())},
            expect_payment_status=PaymentStatus.PENDING.value,
        )
        if (await self._store.transition(order, change)).applied:
            await self.release_quietly(order)

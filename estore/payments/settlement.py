"""Settling orders: paid (every line's hold committed), failed (every hold released), back to
pending, and finishing or undoing what a crashed call left PROCESSING."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from estore.common.idempotency import Claim
from estore.common.tasks import settled
from estore.payments.codec import order_to_json, to_ms, truncate_ms
from estore.payments.errors import ProcessorUnavailable, ReservationLost
from estore.payments.models import Order, OrderLine, OrderStatus, PaymentStatus
from estore.payments.processor import ChargeOutcome, Processor, RefundOutcome
from estore.payments.rules import Inventory, PaymentsConfig, charge_key
from estore.payments.store import KEEP, PaymentStore, Transition

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

    async def paid(
        self, order: Order, charge_id: str, claim: Claim | None = None, *, expiring: bool = True
    ) -> Order:
        """Charged: commit every line's hold, then PAID; if a hold lapsed, refund and cancel.

        With a `claim`, the PAID order is recorded as its request's outcome in the same script.
        `expiring`: the order may be in the expiry index (else there is nothing to remove).
        """
        try:
            await self._commit(order)
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
            expiring_at_ms="" if expiring else KEEP,
        )  # fmt: skip
        recorded = order_to_json(paid) if claim is not None else None
        outcome = await self._store.transition(order, change, claim, recorded)
        if not outcome.applied and outcome.status != OrderStatus.PAID.value:
            # Recovery gave up on this order while the charge was still running (its owner
            # stalled past the lease): undo the sale, the money and the units both.
            log.warning("order %s was settled elsewhere as %s; voiding it", order.id, outcome)
            await self.void(order, charge_id)
            await self.unsell(order)
            raise ReservationLost("the order was cancelled while it was being paid; not charged")
        return paid

    async def _commit(self, order: Order) -> None:
        """Commit every line (at once); after all answered, raise a lapsed hold's error first."""
        outcomes = await settled(
            *(self._inventory.commit(line.reservation_id, line.product_id) for line in order.lines)
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        lost = [o for o in failed if isinstance(o, ReservationLost)]
        if lost or failed:
            raise (lost or failed)[0]

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

    async def unsell(self, order: Order, lines: tuple[OrderLine, ...] | None = None) -> None:
        """Return the units of committed holds whose sale did not happen (once per line)."""
        for line in order.lines if lines is None else lines:
            # One request id per line's hold; a one-line order's is "unsell:<order id>", as ever.
            await self._inventory.restock(
                line.product_id, line.quantity, f"unsell:{line.reservation_id}", UNSELL_REASON
            )

    async def failed(self, order: Order, error: str) -> None:
        """Declined or interrupted: every line's stock released, then CANCELLED, FAILED payment."""
        # Release first: an order reads CANCELLED only once its stock is back (or, with
        # Inventory unreachable, once the holds are left to expire by themselves).
        sold = await self.release_lines(order)
        if sold:
            # Holds were committed, yet the charge did not succeed: no sale, so their units go
            # back to the shelf before the order is cancelled.
            log.warning("order %s: holds were committed without a charge; unselling", order.id)
            await self.unsell(order, sold)
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
        """Release every line's hold; False when some line's stock was sold (committed)."""
        return not await self.release_lines(order)

    async def release_lines(self, order: Order) -> tuple[OrderLine, ...]:
        """Release every line's hold (at once); the lines whose stock was sold (committed).

        If Inventory cannot be reached, a hold expires by itself.
        """
        sold = await asyncio.gather(*(self._release_line(line) for line in order.lines))
        return tuple(line for line, was_sold in zip(order.lines, sold, strict=True) if was_sold)

    async def _release_line(self, line: OrderLine) -> bool:
        try:
            await self._inventory.release(line.reservation_id, line.product_id)
        except ReservationLost as lost:
            return lost.reason == "RESERVATION_COMMITTED"
        except Exception:
            log.warning("could not release %s; it will expire", line.reservation_id)
        return False

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
        """An unpaid order whose holds ran out: CANCELLED, and every line's hold released."""
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

"""The order saga: reserve, write, charge, then commit or release; and finishing half-done ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from estore.common.auth import Caller
from estore.common.errors import Aborted, FieldViolation, InvalidArgument
from estore.common.idempotency import Idempotency, fingerprint
from estore.common.leases import kept_alive
from estore.payments.codec import order_from_json, order_to_json, to_ms, truncate_ms
from estore.payments.errors import (
    CardDeclined,
    OrderNotFound,
    OrderNotPending,
    ProcessorUnavailable,
    ReservationLost,
)
from estore.payments.inventory_client import Reservation
from estore.payments.models import Order, OrderStatus, PaymentMethod, PaymentStatus
from estore.payments.processor import ChargeOutcome, ChargeResult, Processor
from estore.payments.rules import (
    Inventory,
    PaymentsConfig,
    charge_key,
    check_id,
    check_quantity,
    order_id_for,
    price_order,
    require_buyer,
)
from estore.payments.settlement import Settlement
from estore.payments.store import KEEP, PaymentStore, Transition


class OrderSaga:
    """Creates and charges orders, and finishes or undoes half-done ones."""

    def __init__(
        self,
        store: PaymentStore,
        inventory: Inventory,
        processor: Processor,
        idempotency: Idempotency,
        config: PaymentsConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._inventory = inventory
        self._processor = processor
        self._idempotency = idempotency
        self._config = config
        self._clock = clock
        self.settlement = Settlement(store, inventory, processor, config, clock)

    async def create_order(
        self,
        caller: Caller,
        product_id: str,
        quantity: int,
        method: PaymentMethod | None,
        request_id: str,
    ) -> Order:
        """Reserve, write, and (with a method) charge; once per request id."""
        user_id = require_buyer(caller)
        check_id("product_id", product_id)
        check_id("request_id", request_id, required=False)
        check_quantity(quantity)
        method_id = method.id if method else ""
        request = fingerprint("create_order", product_id, quantity, method_id)
        return await self._idempotency.run(
            f"user:{user_id}:create_order",
            request_id,
            request,
            lambda: self._create(user_id, product_id, quantity, method, request_id),
            order_to_json,
            order_from_json,
        )

    async def _create(
        self,
        user_id: int,
        product_id: str,
        quantity: int,
        method: PaymentMethod | None,
        request_id: str,
    ) -> Order:
        order_id = order_id_for(user_id, request_id)
        existing = await self._store.get_order(order_id)
        if existing is not None:  # a retry (after a crash, or a processor outage)
            return await self._retry(existing, product_id, quantity, method)
        reservation = await self._inventory.reserve(
            product_id, quantity, order_id, self._config.reservation_ttl_seconds
        )
        if reservation.state != "HELD":
            raise ReservationLost(
                "the stock hold for this request has lapsed; use a new request_id"
            )
        order = self._new_order(order_id, user_id, reservation, method)
        lease = self._lease_until() if method else None
        try:
            created = await self._store.create_order(order, lease)
        except BaseException:
            if not await self._written(order.id):  # a lost reply may hide a written order
                await self.settlement.release_quietly(order)
            raise
        if not created:
            raise Aborted(
                "this order is being created by another call", reason="REQUEST_IN_PROGRESS"
            )
        if method is None:
            return order
        return await self._charge(order, method)

    async def _retry(
        self, existing: Order, product_id: str, quantity: int, method: PaymentMethod | None
    ) -> Order:
        """The same request again: finish a half-done charge, or charge a kept PENDING order."""
        if (existing.product_id, existing.quantity) != (product_id, quantity):
            raise InvalidArgument(
                "request_id was already used for a different order",
                violations=[FieldViolation("request_id", "already used for another order")],
                reason="REQUEST_ID_REUSED",
            )
        if existing.payment_status is PaymentStatus.PROCESSING:
            return await self._continue(existing, method)
        waiting = existing.status is OrderStatus.PENDING
        if waiting and existing.payment_status is PaymentStatus.PENDING and method is not None:
            return await self.start_payment(existing, method)
        return existing

    async def _written(self, order_id: str) -> bool:
        try:
            return await self._store.get_order(order_id) is not None
        except Exception:  # the store is down: the write most likely failed too
            return False

    def _new_order(
        self, order_id: str, user_id: int, reservation: Reservation, method: PaymentMethod | None
    ) -> Order:
        price, fee, total = price_order(
            reservation.unit_price_minor, reservation.quantity, self._config.fee_bps
        )
        now = truncate_ms(self._clock())
        return Order(
            id=order_id,
            user_id=user_id,
            product_id=reservation.product_id,
            quantity=reservation.quantity,
            currency=self._config.currency,
            unit_price_minor=reservation.unit_price_minor,
            price_minor=price,
            fee_minor=fee,
            total_minor=total,
            refund_amount_minor=0,
            status=OrderStatus.PENDING,
            payment_status=PaymentStatus.PROCESSING if method else PaymentStatus.PENDING,
            reservation_id=reservation.id,
            created_at=now,
            updated_at=now,
            expires_at=truncate_ms(reservation.expires_at),
            payment_method_id=method.id if method else "",
        )

    def _lease_until(self) -> int:
        return to_ms(self._clock() + timedelta(seconds=self._config.lease_seconds))

    async def pay(self, order_id: str, method: PaymentMethod) -> Order:
        """Charge a PENDING order with `method`, or finish the charge an earlier try began."""
        order = await self.load(order_id)
        if order.payment_status is PaymentStatus.PROCESSING:
            return await self._continue(order, method)
        return await self.start_payment(order, method)

    async def _continue(self, order: Order, method: PaymentMethod | None) -> Order:
        """A retry finds its order PROCESSING: its first call died or lost its claim.

        Charging again with the same idempotency key finishes the first charge (or makes it,
        once); another method than the one being charged only learns how that charge ended.
        """
        if method is not None and method.id == order.payment_method_id:
            return await self._charge(order, method)
        return await self.settlement.resume(order)

    async def start_payment(self, order: Order, method: PaymentMethod) -> Order:
        """Charge a PENDING order that waits for payment (PayOrder)."""
        if order.status is not OrderStatus.PENDING:
            raise OrderNotPending(f"the order is {order.status.value}")
        if order.expires_at <= self._clock():
            await self.settlement.expire(order)
            raise OrderNotPending("the order's stock hold has expired")
        change = Transition(
            OrderStatus.PENDING,
            {"payment_status": PaymentStatus.PROCESSING.value, "payment_method_id": method.id,
             "payment_error": "", "updated_at": to_ms(self._clock())},
            expect_payment_status=PaymentStatus.PENDING.value,
            processing_until_ms=str(self._lease_until()),
            expiring_at_ms=KEEP,
        )  # fmt: skip
        if not (await self._store.transition(order, change)).applied:
            raise Aborted(
                "the order changed meanwhile; try again", reason="CONCURRENT_MODIFICATION"
            )
        processing = replace(
            order, payment_status=PaymentStatus.PROCESSING, payment_method_id=method.id
        )
        return await self._charge(processing, method)

    async def _charge(self, order: Order, method: PaymentMethod) -> Order:
        async def renew() -> bool:
            return await self._store.renew("processing", order.id, self._lease_until())

        # Recovery settles orders whose lease lapsed: keep it alive while the charge runs.
        async with kept_alive(renew, self._config.lease_seconds / 3, f"order {order.id}"):
            result = await self._charge_with_retries(order, method)
        if result.outcome is ChargeOutcome.SUCCEEDED:
            return await self.settlement.paid(order, result.charge_id)
        if result.outcome is ChargeOutcome.DECLINED:
            await self.settlement.failed(order, result.decline_code)
            raise CardDeclined(
                f"the card was declined ({result.decline_code})",
                reason=result.decline_code,
                metadata={"order_id": order.id},
            )
        await self.settlement.back_to_pending(order)
        raise ProcessorUnavailable(
            "the card processor is unavailable; the order is kept PENDING, pay it later",
            metadata={"order_id": order.id},
        )

    async def _charge_with_retries(self, order: Order, method: PaymentMethod) -> ChargeResult:
        result = ChargeResult(ChargeOutcome.PROCESSOR_ERROR)
        for attempt in range(self._config.charge_attempts):
            if attempt:
                await asyncio.sleep(self._config.retry_pause_seconds * 2**attempt)
            result = await self._processor.charge(
                method.processor_token, order.total_minor, order.currency, charge_key(order)
            )
            if result.outcome is not ChargeOutcome.PROCESSOR_ERROR:
                break
        return result

    async def load(self, order_id: str) -> Order:
        order = await self._store.get_order(order_id) if order_id else None
        if order is None:
            raise OrderNotFound("no such order")
        return order

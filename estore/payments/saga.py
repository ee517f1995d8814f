"""The order saga: reserve, write, charge, then commit or release; and finishing half-done ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from estore.common.auth import Caller
from estore.common.errors import Aborted, FieldViolation, InvalidArgument
from estore.common.idempotency import Claim, Idempotency, fingerprint
from estore.common.leases import kept_alive
from estore.common.status import may_have_run
from estore.payments.basket import BasketLine, Baskets, asked_lines, canonical
from estore.payments.buckets import bucket_of_id, bucket_of_user
from estore.payments.codec import order_from_json, order_to_json, to_ms, truncate_ms
from estore.payments.errors import (
    CardDeclined,
    OrderNotFound,
    OrderNotPending,
    ProcessorUnavailable,
    ReservationLost,
)
from estore.payments.inventory_client import Reservation
from estore.payments.models import Order, OrderLine, OrderStatus, PaymentMethod, PaymentStatus
from estore.payments.processor import ChargeOutcome, ChargeResult, Processor
from estore.payments.rules import (
    Inventory,
    PaymentsConfig,
    charge_key,
    order_id_for,
    owned_method,
    price_lines,
    require_buyer,
)
from estore.payments.settlement import Settlement
from estore.payments.store import (
    KEEP,
    Creation,
    PaymentStore,
    Transition,
    method_from_hash,
    method_key,
    order_key,
)

log = logging.getLogger("estore.payments.saga")


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
        self.baskets = Baskets(store, inventory, config, clock)

    async def create_order(
        self,
        caller: Caller,
        product_id: str,
        quantity: int,
        method_id: str,
        request_id: str,
        items: Sequence[tuple[str, int]] = (),
    ) -> Order:
        """Reserve every line, write, and (with a method) charge; once per request id.

        `items` are the basket's (product id, units) lines; without them, `product_id` and
        `quantity` are a one-line order, as orders were before baskets. The payment method, and
        whether a retry's order exists, are read in the request id's claim (one round trip).
        """
        user_id = require_buyer(caller)
        lines, named = asked_lines(product_id, quantity, items, request_id)
        if len(lines) == 1:  # however it was sent, the fingerprint orders had before baskets
            request = fingerprint("create_order", *canonical(lines)[0], method_id)
        else:
            request = fingerprint("create_order", canonical(lines), method_id)
        order_id = order_id_for(user_id, request_id)
        # A method in another slot (made before buckets) cannot be read in the claim's script.
        folded = bool(method_id) and bucket_of_id(method_id) == bucket_of_user(user_id)

        async def create(claim: Claim | None, reads: list[Any]) -> Order:
            method = None
            if folded:
                method = owned_method(method_from_hash(reads[0]), user_id)
            elif method_id:
                method = owned_method(await self._store.get_method(method_id), user_id)
            written = bool(request_id) and reads[-1]  # without a request id, a new order id
            return await self._create(user_id, order_id, lines, method, named, written, claim)

        return await self._idempotency.run_reading(
            f"user:{user_id}:create_order",
            request_id,
            request,
            create,
            order_to_json,
            order_from_json,
            hashes=[method_key(method_id)] if folded else [],
            exists=[order_key(order_id)] if request_id else [],
        )

    async def _create(
        self,
        user_id: int,
        order_id: str,
        lines: Sequence[BasketLine],
        method: PaymentMethod | None,
        named: bool,
        written: bool,
        claim: Claim | None,
    ) -> Order:
        existing = await self._store.get_order(order_id) if written else None
        if existing is not None:  # a retry (after a crash, or a processor outage)
            return await self._retry(existing, lines, method, claim)
        reservations = await self.baskets.reserve(order_id, lines, named=named)
        order = self._new_order(order_id, user_id, reservations, method)
        lease = self._lease_until() if method else None
        try:
            created = await self._store.create_order(order, lease)
        except BaseException as error:
            # The store failed (a failover, say): the order may be written, its reply lost, and
            # a retry with this request_id must find its holds, so they are kept (they lapse if
            # none comes). Otherwise a lost reply may still hide a written order: look first.
            if not may_have_run(error) and not await self._written(order.id):
                log.info("order %s not written (%r): its holds are released", order.id, error)
                await self.settlement.release_quietly(order)
            raise
        if created is Creation.ABANDONED:  # stalled past its lease: recovery released the lines
            await self.settlement.release_quietly(order)
            raise ReservationLost(
                "the stock hold for this request has lapsed; use a new request_id"
            )
        if created is Creation.EXISTS:
            raise Aborted(
                "this order is being created by another call", reason="REQUEST_IN_PROGRESS"
            )
        if method is None:
            return order
        return await self._charge(order, method, claim, expiring=False)

    async def _retry(
        self,
        existing: Order,
        lines: Sequence[BasketLine],
        method: PaymentMethod | None,
        claim: Claim | None,
    ) -> Order:
        """The same request again: finish a half-done charge, or charge a kept PENDING order."""
        stored = sorted((line.product_id, line.quantity) for line in existing.lines)
        if stored != canonical(lines):
            raise InvalidArgument(
                "request_id was already used for a different order",
                violations=[FieldViolation("request_id", "already used for another order")],
                reason="REQUEST_ID_REUSED",
            )
        if existing.payment_status is PaymentStatus.PROCESSING:
            return await self._continue(existing, method, claim)
        waiting = existing.status is OrderStatus.PENDING
        if waiting and existing.payment_status is PaymentStatus.PENDING and method is not None:
            return await self.start_payment(existing, method, claim)
        return existing

    async def _written(self, order_id: str) -> bool:
        try:
            return await self._store.get_order(order_id) is not None
        except Exception:  # the store is down: the write most likely failed too
            return False

    def _new_order(
        self,
        order_id: str,
        user_id: int,
        reservations: Reservation | Sequence[Reservation],
        method: PaymentMethod | None,
    ) -> Order:
        """The order its lines' holds make: the price of each line from Inventory, one fee."""
        held = [reservations] if isinstance(reservations, Reservation) else list(reservations)
        lines = tuple(OrderLine(r.product_id, r.quantity, r.unit_price_minor, r.id) for r in held)
        price, fee, total = price_lines(
            [(line.unit_price_minor, line.quantity) for line in lines], self._config.fee_bps
        )
        # A one-line order fills the single-product fields, as orders did before baskets.
        single = lines[0] if len(lines) == 1 else OrderLine("", 0, 0, "")
        now = truncate_ms(self._clock())
        return Order(
            id=order_id,
            user_id=user_id,
            product_id=single.product_id,
            quantity=single.quantity,
            currency=self._config.currency,
            unit_price_minor=single.unit_price_minor,
            price_minor=price,
            fee_minor=fee,
            total_minor=total,
            refund_amount_minor=0,
            status=OrderStatus.PENDING,
            payment_status=PaymentStatus.PROCESSING if method else PaymentStatus.PENDING,
            reservation_id=single.reservation_id,
            created_at=now,
            updated_at=now,
            expires_at=truncate_ms(min(r.expires_at for r in held)),
            payment_method_id=method.id if method else "",
            lines=lines,
        )

    def _lease_until(self) -> int:
        return to_ms(self._clock() + timedelta(seconds=self._config.lease_seconds))

    async def pay(self, order_id: str, method: PaymentMethod) -> Order:
        """Charge a PENDING order with `method`, or finish the charge an earlier try began."""
        order = await self.load(order_id)
        if order.payment_status is PaymentStatus.PROCESSING:
            return await self._continue(order, method)
        return await self.start_payment(order, method)

    async def _continue(
        self, order: Order, method: PaymentMethod | None, claim: Claim | None = None
    ) -> Order:
        """A retry finds its order PROCESSING: its first call died or lost its claim.

        Charging again with the same idempotency key finishes the first charge (or makes it,
        once); another method than the one being charged only learns how that charge ended.
        """
        if method is not None and method.id == order.payment_method_id:
            return await self._charge(order, method, claim)
        return await self.settlement.resume(order)

    async def start_payment(
        self, order: Order, method: PaymentMethod, claim: Claim | None = None
    ) -> Order:
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
        return await self._charge(processing, method, claim)

    async def _charge(
        self, order: Order, method: PaymentMethod, claim: Claim | None, *, expiring: bool = True
    ) -> Order:
        """Charge, then settle; a success records its request's outcome with the PAID
        transition (`claim`), in one script. `expiring`: the order may be in the expiry index
        (false for one written with its card, never unpaid)."""

        async def renew() -> bool:
            return await self._store.renew("processing", order.id, self._lease_until())

        # Recovery settles orders whose lease lapsed: keep it alive while the charge runs.
        async with kept_alive(renew, self._config.lease_seconds / 3, f"order {order.id}"):
            result = await self._charge_with_retries(order, method)
        if result.outcome is ChargeOutcome.SUCCEEDED:
            return await self.settlement.paid(order, result.charge_id, claim, expiring=expiring)
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

"""PaymentService's rules: who may do what to payment methods and orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from estore.common.auth import Caller
from estore.common.errors import Aborted, InvalidArgument, PermissionDenied
from estore.common.idempotency import Idempotency, fingerprint
from estore.common.paging import PageTokens, page_size
from estore.payments.basket import check_lines
from estore.payments.cards import CardInput, validate_card
from estore.payments.codec import order_from_json, order_to_json, to_ms
from estore.payments.errors import (
    NotOrderOwner,
    OrderNotFound,
    OrderNotPending,
    TooManyNotes,
)
from estore.payments.models import (
    Order,
    OrderNote,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
)
from estore.payments.processor import Processor
from estore.payments.refund_saga import RefundSaga
from estore.payments.rules import (
    Inventory,
    check_id,
    method_id_for,
    owned_method,
    require_buyer,
)
from estore.payments.saga import OrderSaga
from estore.payments.store import PaymentStore, Transition

MAX_NOTES = 100
MAX_NOTE_LENGTH = 1000
MAX_REASON_LENGTH = 500


class PaymentService:
    """Payment methods and orders, for one caller at a time."""

    def __init__(
        self,
        store: PaymentStore,
        saga: OrderSaga,
        refunds: RefundSaga,
        inventory: Inventory,
        processor: Processor,
        idempotency: Idempotency,
        page_tokens: PageTokens,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.saga = saga
        self._refunds = refunds
        self._inventory = inventory
        self._processor = processor
        self._idempotency = idempotency
        self._tokens = page_tokens
        self._clock = clock

    # Payment methods

    async def add_card(self, caller: Caller, card: CardInput, request_id: str) -> PaymentMethod:
        """Validate and save a card (only its summary and a processor token are kept)."""
        user_id = require_buyer(caller)
        check_id("request_id", request_id, required=False)
        summary = validate_card(card, date.today())
        # The fingerprint must not let the number be recovered: the summary suffices.
        request = fingerprint("add_card", summary.last4, summary.brand, card.exp_month,
                              card.exp_year, summary.holder_name)  # fmt: skip

        async def add() -> str:
            token = await self._processor.tokenize(card)
            method = PaymentMethod(method_id_for(user_id), user_id, summary, token, self._clock())
            await self._store.add_method(method)
            return method.id

        method_id = await self._idempotency.run(
            f"user:{user_id}:add_card", request_id, request, add, str, str
        )
        return await self.get_method(caller, method_id)

    async def get_method(self, caller: Caller, method_id: str) -> PaymentMethod:
        """One of the caller's payment methods; another user's is NOT_FOUND."""
        user_id = caller.require_user()
        check_id("payment_method_id", method_id)
        return owned_method(await self._store.get_method(method_id), user_id)

    async def list_methods(
        self, caller: Caller, size: int, token: str
    ) -> tuple[list[PaymentMethod], str]:
        user_id = caller.require_user()
        cursor = self._tokens.decode(token, scope=f"methods:{user_id}") or {}
        methods, after = await self._store.list_methods(
            user_id, str(cursor.get("after", "")), page_size(size)
        )
        next_token = self._tokens.encode({"after": after}, f"methods:{user_id}") if after else ""
        return methods, next_token

    async def delete_method(self, caller: Caller, method_id: str) -> None:
        await self._store.delete_method(await self.get_method(caller, method_id))

    # Orders

    async def create_order(
        self,
        caller: Caller,
        product_id: str,
        quantity: int,
        method_id: str,
        request_id: str,
        items: Sequence[tuple[str, int]] = (),
    ) -> Order:
        """A basket of `items`, or one product (`product_id`, `quantity`), all or nothing."""
        caller.require_user()
        if method_id:
            check_id("payment_method_id", method_id)
        return await self.saga.create_order(
            caller, product_id, quantity, method_id, request_id, items
        )

    async def pay_order(
        self, caller: Caller, order_id: str, method_id: str, request_id: str
    ) -> Order:
        """Charge the caller's PENDING order."""
        user_id = require_buyer(caller)
        check_id("request_id", request_id, required=False)
        order = await self.get_order(caller, order_id)
        if order.user_id != user_id:
            raise NotOrderOwner("only the order's owner can pay it")
        method = await self.get_method(caller, method_id)
        return await self._idempotency.run(
            f"user:{user_id}:pay_order", request_id,
            fingerprint("pay_order", order_id, method_id),
            lambda: self.saga.pay(order.id, method),
            order_to_json, order_from_json,
        )  # fmt: skip

    async def get_order(self, caller: Caller, order_id: str) -> Order:
        """The order, for its owner or an admin; anyone else gets NOT_FOUND."""
        user_id = caller.require_user()
        check_id("order_id", order_id)
        order = await self.saga.load(order_id)
        if order.user_id != user_id and not caller.acts_as_admin():
            raise OrderNotFound("no such order")
        return order

    async def list_orders(
        self, caller: Caller, status: OrderStatus | None, user_filter: int, size: int, token: str
    ) -> tuple[list[Order], str]:
        """Newest first; a non-admin sees only their own."""
        user_id = caller.require_user()
        admin = caller.acts_as_admin()  # UNAVAILABLE while an admin's claim is unconfirmed
        if not admin and user_filter not in (0, user_id):
            raise PermissionDenied("only admins list other users' orders", reason="ADMIN_REQUIRED")
        owner = user_filter or (None if admin else user_id)
        scope = f"orders:{owner}:{status.value if status else ''}"
        cursor = self._tokens.decode(token, scope=scope) or {}
        orders, after = await self._store.list_orders(
            owner, status, str(cursor.get("after", "")), page_size(size)
        )
        return orders, (self._tokens.encode({"after": after}, scope) if after else "")

    async def cancel_order(self, caller: Caller, order_id: str, reason: str) -> Order:
        """Cancel a PENDING order and release its stock; CANCELLED stays as it is."""
        _check_text("reason", reason, MAX_REASON_LENGTH, required=False)
        order = await self.get_order(caller, order_id)
        if order.status is OrderStatus.CANCELLED:
            return order
        if order.status is not OrderStatus.PENDING:
            raise OrderNotPending(f"the order is {order.status.value}; refund it instead")
        if order.payment_status is PaymentStatus.PROCESSING:
            raise Aborted("a payment is in progress; try again", reason="CONCURRENT_MODIFICATION")
        change = Transition(
            OrderStatus.CANCELLED,
            {"cancel_reason": reason, "updated_at": to_ms(self._clock())},
            expect_payment_status=order.payment_status.value,
        )
        if not (await self._store.transition(order, change)).applied:
            raise Aborted(
                "the order changed meanwhile; try again", reason="CONCURRENT_MODIFICATION"
            )
        await self.saga.baskets.release(
            [(line.reservation_id, line.product_id) for line in order.lines]
        )
        return await self.saga.load(order.id)

    async def add_note(self, caller: Caller, order_id: str, text: str) -> Order:
        _check_text("note", text, MAX_NOTE_LENGTH, required=True)
        order = await self.get_order(caller, order_id)
        note = OrderNote(text, self._clock(), caller.require_user())
        if await self._store.add_note(order.id, note, MAX_NOTES) == 0:
            raise TooManyNotes(f"an order holds at most {MAX_NOTES} notes")
        return await self.saga.load(order.id)

    async def refund_order(
        self,
        caller: Caller,
        order_id: str,
        amount_minor: int | None,
        reason: str,
        restock: bool,
        request_id: str,
        items: Sequence[tuple[str, int]] = (),
    ) -> Order:
        """Refund part or all of a paid order, by amount or by lines (admins only), once per
        request id (a saga)."""
        caller.require_admin()
        check_id("order_id", order_id)
        check_id("request_id", request_id, required=False)
        _check_text("reason", reason, MAX_REASON_LENGTH, required=False)
        if amount_minor is not None and amount_minor <= 0:
            raise InvalidArgument.field("amount", "must be positive")
        if items and amount_minor is not None:
            raise InvalidArgument.field("amount", "must be unset when refunding items")
        lines = (
            tuple((line.product_id, line.quantity) for line in check_lines(items)) if items else ()
        )
        author = caller.user_id or 0

        async def refund() -> Order:
            return await self._refunds.refund(
                author, order_id, amount_minor, reason, restock, request_id, lines
            )

        # A refund by amount keeps the fingerprint refunds had before refunds by lines.
        asked = (sorted(lines),) if lines else ()
        return await self._idempotency.run(
            f"admin:{author}:refund", request_id,
            fingerprint("refund", order_id, amount_minor, reason, restock, *asked),
            refund, order_to_json, order_from_json,
        )  # fmt: skip


def _check_text(field: str, value: str, limit: int, *, required: bool) -> None:
    if required and not value.strip():
        raise InvalidArgument.field(field, "must not be empty")
    if len(value) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")

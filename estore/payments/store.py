"""The only place with Redis commands for orders and payment methods.

Every key lives under the hash tag `{pay}`, so each script's keys share one slot and the same
scripts run on Redis Cluster. Lists of orders are sorted sets whose members are
`<created_at ms, 15 digits>:<order id>` at score 0, read newest first with ZREVRANGEBYLEX: an
exact keyset cursor in one command, whatever the number of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from redis.asyncio.client import Pipeline

from estore.common.idempotency import Claim
from estore.common.redis import RedisClient, text
from estore.payments.codec import (
    method_fields,
    method_from_fields,
    note_entry,
    order_fields,
    order_from_fields,
    to_ms,
)
from estore.payments.models import Order, OrderNote, OrderStatus, PaymentMethod
from estore.payments.store_baskets import BasketStore

P = "pay:{pay}"
_LUA = Path(__file__).parent / "lua"
KEEP = "-"
# Work that recovery finishes if its owner stops renewing the lease: member -> lease deadline ms.
DUE = {
    "processing": f"{P}:orders:processing",  # orders being charged (member: order id)
    "expiring": f"{P}:orders:expiring",  # unpaid orders, by when their hold lapses
    "refunds": f"{P}:refunds:in-progress",  # refunds decided, not settled ("order id:refund id")
    "creating": f"{P}:orders:creating",  # orders of several lines being reserved (order id)
}


def order_key(order_id: str) -> str:
    return f"{P}:order:{order_id}"


def refund_states_key(order_id: str) -> str:
    """Hash: refund id -> its RefundState, and "<refund id>:units" -> the units it restocks."""
    return f"{order_key(order_id)}:refund-states"


def method_key(method_id: str) -> str:
    return f"{P}:pm:{method_id}"


def method_from_hash(raw: dict[Any, Any]) -> PaymentMethod | None:
    """A payment method from its hash as read (None if it was missing)."""
    return method_from_fields(raw) if raw else None


def index(user_id: int | None, status: OrderStatus | None) -> str:
    owner = f"{P}:user:{user_id}:orders" if user_id is not None else f"{P}:orders"
    return f"{owner}:{status.value}" if status is not None else owner


def index_member(order: Order) -> str:
    return f"{to_ms(order.created_at):015d}:{order.id}"


_ORDER_READS = 4  # the replies _read_order queues


def _read_order(pipe: Pipeline, order_id: str) -> None:
    """Queue the reads of one order: its hash, notes, refunds and the refunds' progress."""
    key = order_key(order_id)
    pipe.hgetall(key)
    pipe.lrange(f"{key}:notes", 0, -1)
    pipe.lrange(f"{key}:refunds", 0, -1)
    pipe.hgetall(refund_states_key(order_id))


@dataclass(frozen=True)
class Transition:
    """A compare-and-set change of an order's status and fields."""

    new_status: OrderStatus
    fields: dict[str, str | int]
    expect_payment_status: str = ""
    expect_refund_amount: str = ""
    processing_until_ms: str = ""  # '' leaves the recovery index, '-' keeps it as it is
    expiring_at_ms: str = ""  # '' leaves the expiry index, '-' keeps it as it is
    refund_entry: str = ""


class Creation(Enum):
    """What became of writing a new order."""

    WRITTEN = 1
    EXISTS = 0  # an order with this id was written before
    ABANDONED = -2  # recovery gave up on this attempt (its lease lapsed): its lines are released


@dataclass(frozen=True)
class TransitionResult:
    """Whether a transition happened; when not, what the order is now."""

    applied: bool
    missing: bool = False
    status: str = ""
    payment_status: str = ""


class PaymentStore:
    """Orders, their indexes, and payment methods in Redis."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._create = redis.register_script((_LUA / "create_order.lua").read_text())
        self._transition = redis.register_script((_LUA / "transition.lua").read_text())
        self._append = redis.register_script((_LUA / "append_capped.lua").read_text())
        self._claim_due = redis.register_script((_LUA / "claim_due.lua").read_text())
        self.baskets = BasketStore(redis, P, DUE["creating"])

    async def create_order(self, order: Order, processing_until_ms: int | None) -> Creation:
        """Write a new order, unless one with its id exists or its attempt was abandoned.

        An order of several lines replaces the intent its attempt recorded, in the same script.
        An order being charged (with a processing lease) is in neither the expiry index nor the
        status indexes: the transition that settles its charge files it (transition.lua).
        """
        keys = [
            order_key(order.id),
            index(None, None),
            index(None, order.status),
            index(order.user_id, None),
            index(order.user_id, order.status),
            DUE["processing"],
            DUE["expiring"],
            self.baskets.intent_key(order.id),
            DUE["creating"],
        ]
        waiting = order.status is OrderStatus.PENDING and processing_until_ms is None
        expiring = to_ms(order.expires_at) if waiting else ""
        processing = "" if processing_until_ms is None else processing_until_ms
        intent = "1" if len(order.lines) > 1 else ""
        args: list[str | int] = [index_member(order), processing, expiring, intent, order.id]
        for name, value in order_fields(order).items():
            args += [name, value]
        return Creation(int(await self._create(keys=keys, args=args)))

    async def get_order(self, order_id: str) -> Order | None:
        """One order with its notes and refunds (one round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            _read_order(pipe, order_id)
            raw, *lists = await pipe.execute()
        return order_from_fields(raw, *lists) if raw else None

    async def transition(
        self, order: Order, change: Transition, claim: Claim | None = None, outcome: Any = None
    ) -> TransitionResult:
        """Apply `change` if the order still has the status it had when read; with a `claim`,
        record `outcome` (encoded) as its request's in the same script (claim.recorded)."""
        keys = [
            order_key(order.id),
            index(None, order.status),
            index(None, change.new_status),
            index(order.user_id, order.status),
            index(order.user_id, change.new_status),
            DUE["processing"],
            DUE["expiring"],
            f"{order_key(order.id)}:refunds",
        ]
        recording = ["", "", 0] if claim is None else claim.outcome_args(outcome)
        if claim is not None:
            keys.append(claim.key)
        args: list[str | int] = [
            index_member(order),
            order.status.value,
            change.expect_payment_status,
            change.expect_refund_amount,
            change.new_status.value,
            change.processing_until_ms,
            change.expiring_at_ms,
            change.refund_entry,
            *recording,
        ]
        for name, value in change.fields.items():
            args += [name, value]
        reply = await self._transition(keys=keys, args=args)
        if reply[0] == 1:
            if claim is not None and reply[1] == 1:
                claim.recorded = True
            return TransitionResult(applied=True)
        if reply[0] == -1:
            return TransitionResult(applied=False, missing=True)
        return TransitionResult(False, False, text(reply[1]), text(reply[2]))

    async def add_note(self, order_id: str, note: OrderNote, limit: int) -> int:
        """Append a note: the new count, 0 when full, -1 when the order is missing."""
        key = order_key(order_id)
        return int(
            await self._append(
                keys=[key, f"{key}:notes"],
                args=[note_entry(note), limit, to_ms(note.created_at)],
            )
        )

    async def list_orders(
        self, user_id: int | None, status: OrderStatus | None, after: str, limit: int
    ) -> tuple[list[Order], str]:
        """A page of orders newest first, after the member `after`; and the next cursor."""
        upper = f"({after}" if after else "+"
        members = await self._redis.zrevrangebylex(
            index(user_id, status), upper, "-", start=0, num=limit + 1
        )
        page = [text(m) for m in members[:limit]]
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in page:
                _read_order(pipe, member.split(":", 1)[1])
            replies = await pipe.execute()
        n = _ORDER_READS
        orders = [
            order_from_fields(*replies[i : i + n]) for i in range(0, len(replies), n) if replies[i]
        ]
        return orders, (page[-1] if len(members) > limit else "")

    async def due(self, which: str, now_ms: int, limit: int) -> list[str]:
        """Members of a DUE index whose lease or deadline has passed, most overdue first."""
        members = await self._redis.zrangebyscore(DUE[which], "-inf", now_ms, 0, limit)
        return [text(m) for m in members]

    async def claim_due(self, which: str, member: str, now_ms: int, until_ms: int) -> bool:
        """Take a due member for this pass: its deadline moves to `until_ms` (the next try).

        False if it is not due (renewed, or taken by another instance) or gone.
        """
        return bool(await self._claim_due(keys=[DUE[which]], args=[member, now_ms, until_ms]))

    async def renew(self, which: str, member: str, until_ms: int) -> bool:
        """Extend a lease in a DUE index; False once the member has left it (settled)."""
        return bool(await self._redis.zadd(DUE[which], {member: until_ms}, xx=True, ch=True))

    async def count_by_status(self) -> dict[OrderStatus, int]:
        """How many orders are in each status (one round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for status in OrderStatus:
                pipe.zcard(index(None, status))
            counts = await pipe.execute()
        return dict(zip(OrderStatus, (int(c) for c in counts), strict=True))

    async def forget_due(self, which: str, member: str) -> None:
        """Drop a member from a DUE index."""
        await self._redis.zrem(DUE[which], member)

    async def add_method(self, method: PaymentMethod) -> None:
        """Save a payment method and index it under its owner."""
        member = f"{to_ms(method.created_at):015d}:{method.id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{P}:pm:{method.id}", mapping=method_fields(method))  # type: ignore[arg-type]
            pipe.zadd(f"{P}:user:{method.user_id}:pms", {member: 0})
            await pipe.execute()

    async def get_method(self, method_id: str) -> PaymentMethod | None:
        return method_from_hash(await self._redis.hgetall(method_key(method_id)))

    async def list_methods(
        self, user_id: int, after: str, limit: int
    ) -> tuple[list[PaymentMethod], str]:
        """A page of a user's payment methods, oldest first; and the next cursor."""
        lower = f"({after}" if after else "-"
        members = await self._redis.zrangebylex(
            f"{P}:user:{user_id}:pms", lower, "+", start=0, num=limit + 1
        )
        page = [text(m) for m in members[:limit]]
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in page:
                pipe.hgetall(f"{P}:pm:{member.split(':', 1)[1]}")
            raws = await pipe.execute()
        methods = [method_from_fields(raw) for raw in raws if raw]
        return methods, (page[-1] if len(members) > limit else "")

    async def delete_method(self, method: PaymentMethod) -> None:
        member = f"{to_ms(method.created_at):015d}:{method.id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{P}:pm:{method.id}")
            pipe.zrem(f"{P}:user:{method.user_id}:pms", member)
            await pipe.execute()

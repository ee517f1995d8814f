"""The only place with Redis commands for orders and payment methods.

Every key of an order or a user lives under the user's bucket tag (buckets.py, keys.py), so
each script's keys share one slot and users spread over a Redis Cluster's masters; the admin
listings are kept apart by the indexer (indexer.py). Lists of orders are sorted sets whose
members are `<created_at ms, 15 digits>:<order id>` at score 0, read newest first with
ZREVRANGEBYLEX: an exact keyset cursor, whatever the number of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from redis.asyncio.client import Pipeline

from estore.common.idempotency import Claim
from estore.common.redis import RedisClient, queue_script, text
from estore.payments.buckets import LEGACY, bucket_of_id, bucket_of_user
from estore.payments.codec import (
    fields_arg,
    method_fields,
    method_from_fields,
    note_entry,
    order_fields,
    order_from_fields,
    to_ms,
)
from estore.payments.indexer import Doorbell
from estore.payments.keys import (
    DUE,
    WHICH,
    P,
    due_key,
    due_key_of,
    events_key,
    index,
    method_key,
    methods_index,
    order_key,
    refund_states_key,
)
from estore.payments.models import Order, OrderNote, OrderStatus, PaymentMethod
from estore.payments.store_baskets import BasketStore
from estore.payments.store_lists import merged_page

__all__ = ["DUE", "P", "index", "method_key", "order_key", "refund_states_key"]

_LUA = Path(__file__).parent / "lua"
KEEP = "-"


def method_from_hash(raw: dict[Any, Any]) -> PaymentMethod | None:
    """A payment method from its hash as read (None if it was missing)."""
    return method_from_fields(raw) if raw else None


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


def _by_index(reply: list[Any]) -> dict[str, list[str]]:
    """due_all.lua's reply: the due members of each lease index."""
    return {which: [text(m) for m in found] for which, found in zip(WHICH, reply, strict=True)}


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
        self._doorbell = Doorbell.of(redis)
        self._create = redis.register_script((_LUA / "create_order.lua").read_text())
        self._transition = redis.register_script((_LUA / "transition.lua").read_text())
        self._append = redis.register_script((_LUA / "append_capped.lua").read_text())
        self._claim_due = redis.register_script((_LUA / "claim_due.lua").read_text())
        self._due_all = redis.register_script((_LUA / "due_all.lua").read_text())
        self.baskets = BasketStore(redis)

    async def create_order(self, order: Order, processing_until_ms: int | None) -> Creation:
        """Write a new order, unless one with its id exists or its attempt was abandoned.

        An order of several lines replaces the intent its attempt recorded, in the same script.
        An order being charged (with a processing lease) is in neither the expiry index nor the
        status indexes: the transition that settles its charge files it (transition.lua).
        """
        bucket = bucket_of_id(order.id)
        keys = [
            order_key(order.id),
            events_key(bucket),
            index(order.user_id, None, bucket),
            index(order.user_id, order.status, bucket),
            due_key(bucket, "processing"),
            due_key(bucket, "expiring"),
            self.baskets.intent_key(order.id),
            due_key(bucket, "creating"),
        ]
        waiting = order.status is OrderStatus.PENDING and processing_until_ms is None
        expiring = to_ms(order.expires_at) if waiting else ""
        processing = "" if processing_until_ms is None else processing_until_ms
        intent = "1" if len(order.lines) > 1 else ""
        listed = order.status.value if processing_until_ms is None else ""
        args = [index_member(order), processing, expiring, intent, order.id, listed]
        args.append(fields_arg(order_fields(order)))
        created = Creation(int(await self._create(keys=keys, args=args)))
        if created is Creation.WRITTEN:
            self._doorbell.ring(order.id)
        return created

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
        bucket = bucket_of_id(order.id)
        keys = [
            order_key(order.id),
            events_key(bucket),
            index(order.user_id, order.status, bucket),
            index(order.user_id, change.new_status, bucket),
            due_key(bucket, "processing"),
            due_key(bucket, "expiring"),
            f"{order_key(order.id)}:refunds",
        ]
        if claim is not None and bucket != bucket_of_user(order.user_id):
            claim = None  # a legacy order's slot is not its claim's: the claim records itself
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
            fields_arg(change.fields),
        ]
        reply = await self._transition(keys=keys, args=args)
        if reply[0] == 1:
            self._doorbell.ring(order.id)
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
        """A page of orders newest first, after the member `after`; and the next cursor.

        A user's orders made before buckets are in the legacy slot's index: both are read.
        """
        keys = [index(user_id, status)]
        if user_id is not None:
            keys.append(index(user_id, status, LEGACY))
        page, cursor = await merged_page(self._redis, keys, after, limit, newest_first=True)
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in page:
                _read_order(pipe, member.split(":", 1)[1])
            replies = await pipe.execute()
        n = _ORDER_READS
        orders = [
            order_from_fields(*replies[i : i + n]) for i in range(0, len(replies), n) if replies[i]
        ]
        return orders, cursor

    async def due(self, which: str, now_ms: int, limit: int, bucket: int = LEGACY) -> list[str]:
        """Members of a bucket's DUE index whose lease or deadline has passed, most overdue
        first."""
        members = await self._redis.zrangebyscore(due_key(bucket, which), "-inf", now_ms, 0, limit)
        return [text(m) for m in members]

    async def load_due_script(self) -> None:
        """SCRIPT LOAD the script `due_in` pipelines (a pipeline cannot load it): once a pass."""
        await self._redis.script_load(self._due_all.script)

    async def due_in(
        self, buckets: list[int], now_ms: int, limit: int
    ) -> dict[int, dict[str, list[str]]]:
        """Each bucket's due members, by lease index (keys.WHICH): one script per bucket, all
        in one pipeline (one round trip per master), once `load_due_script` has run."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                keys = [due_key(bucket, which) for which in WHICH]
                queue_script(pipe, self._due_all.sha, keys, [now_ms, limit])
            replies = await pipe.execute()
        return {
            bucket: {
                which: [text(m) for m in found] for which, found in zip(WHICH, reply, strict=True)
            }
            for bucket, reply in zip(buckets, replies, strict=True)
        }

    async def claim_due(self, which: str, member: str, now_ms: int, until_ms: int) -> bool:
        """Take a due member for this pass: its deadline moves to `until_ms` (the next try).

        False if it is not due (renewed, or taken by another instance) or gone.
        """
        key = due_key_of(which, member)
        return bool(await self._claim_due(keys=[key], args=[member, now_ms, until_ms]))

    async def renew(self, which: str, member: str, until_ms: int) -> bool:
        """Extend a lease in a DUE index; False once the member has left it (settled)."""
        key = due_key_of(which, member)
        return bool(await self._redis.zadd(key, {member: until_ms}, xx=True, ch=True))

    async def count_by_status(self) -> dict[OrderStatus, int]:
        """How many orders are in each status (one round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for status in OrderStatus:
                pipe.zcard(index(None, status))
            counts = await pipe.execute()
        return dict(zip(OrderStatus, (int(c) for c in counts), strict=True))

    async def forget_due(self, which: str, member: str) -> None:
        """Drop a member from a DUE index."""
        await self._redis.zrem(due_key_of(which, member), member)

    async def add_method(self, method: PaymentMethod) -> None:
        """Save a payment method and index it under its owner (its id carries their bucket)."""
        member = f"{to_ms(method.created_at):015d}:{method.id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(method_key(method.id), mapping=method_fields(method))  # type: ignore[arg-type]
            pipe.zadd(methods_index(method.user_id, bucket_of_id(method.id)), {member: 0})
            await pipe.execute()

    async def get_method(self, method_id: str) -> PaymentMethod | None:
        return method_from_hash(await self._redis.hgetall(method_key(method_id)))

    async def list_methods(
        self, user_id: int, after: str, limit: int
    ) -> tuple[list[PaymentMethod], str]:
        """A page of a user's payment methods, oldest first (those made before buckets too);
        and the next cursor."""
        keys = [methods_index(user_id), methods_index(user_id, LEGACY)]
        page, cursor = await merged_page(self._redis, keys, after, limit, newest_first=False)
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in page:
                pipe.hgetall(method_key(member.split(":", 1)[1]))
            raws = await pipe.execute()
        methods = [method_from_fields(raw) for raw in raws if raw]
        return methods, cursor

    async def delete_method(self, method: PaymentMethod) -> None:
        member = f"{to_ms(method.created_at):015d}:{method.id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(method_key(method.id))
            pipe.zrem(methods_index(method.user_id, bucket_of_id(method.id)), member)
            await pipe.execute()

"""The Redis side of the refund saga: decide, money returned, settle or roll back.

An order's refunds are a list of entries as decided (`<order>:refunds`, JSON) and a hash of how
far each refund's saga got (`<order>:refund-states`: refund id -> RefundState, and
`<refund id>:units` -> the units it returns to stock). The order hash keeps `refund_amount` (the
refunds decided and not failed), `refund_settled` (the completed ones), per line
`refunded:<product id>` (its units refunded by refunds by lines, decided and not failed) and
`restock_claimed:<product id>` (its units claimed by refunds to return to stock), and, from
before units were claimed per line, `restock_claim` (the one refund that returned the whole
order's units) and `restocked`. A refund in progress is in
`refunds:in-progress` under `<order id>:<refund id>`, scored by its lease deadline.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from redis.commands.core import AsyncScript

from estore.common.redis import RedisClient, text
from estore.payments.buckets import bucket_of_id
from estore.payments.codec import parse_units, refund_entry, refunded_field, to_ms
from estore.payments.indexer import Doorbell
from estore.payments.keys import due_key_of, events_key, index, order_key, refund_states_key
from estore.payments.models import Order, OrderStatus, Refund, RefundState
from estore.payments.store import index_member

_LUA = Path(__file__).parent / "lua"
_SETTLED_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


class Decision(Enum):
    """What became of an attempt to decide a refund."""

    DECIDED = 1
    CHANGED = 0  # the order changed since it was read: read it again
    MISSING = -1
    EXISTS = 2  # a refund with this id was decided already (by an earlier attempt)


def in_progress_member(order_id: str, refund_id: str) -> str:
    return f"{order_id}:{refund_id}"


class RefundStore:
    """Each step of a refund as one atomic script on the order's keys."""

    def __init__(self, redis: RedisClient) -> None:
        def script(name: str) -> AsyncScript:
            return redis.register_script((_LUA / f"refund_{name}.lua").read_text())

        self._doorbell = Doorbell.of(redis)
        self._decide = script("decide")
        self._returned = script("returned")
        self._settle = script("settle")
        self._rollback = script("rollback")

    async def decide(self, order: Order, refund: Refund, lease_until_ms: int) -> Decision:
        """Record `refund` PENDING and count it in refund_amount, if the order is as read."""
        keys = [
            order_key(order.id),
            f"{order_key(order.id)}:refunds",
            refund_states_key(order.id),
            due_key_of("refunds", order.id),
        ]
        args: list[str | int] = [
            order.status.value,
            order.refund_amount_minor,
            order.refund_amount_minor + refund.amount_minor,
            refund.id,
            refund_entry(refund),
            in_progress_member(order.id, refund.id),
            lease_until_ms,
            to_ms(refund.created_at),
            *_line_counts(refund),
        ]
        return Decision(int(await self._decide(keys=keys, args=args)))

    async def returned(
        self, order: Order, refund_id: str, asked: tuple[tuple[str, int], ...]
    ) -> tuple[RefundState | None, tuple[tuple[str, int], ...]]:
        """The money is back: RETURNED, claiming of the units `asked` those no refund claimed.

        Returns the refund's state and the units it is to return to stock.
        """
        keys = [order_key(order.id), refund_states_key(order.id)]
        args: list[str | int] = [refund_id]
        for product_id, units in asked:
            line = order.line(product_id)
            args += [product_id, units, line.quantity if line else 0]
        state, claimed = (text(part) for part in await self._returned(keys=keys, args=args))
        return (RefundState(state) if state else None), parse_units(claimed)

    async def settle(self, order: Order, refund: Refund, now_ms: int) -> bool:
        """COMPLETED, and the order's status follows the settled sum; False if settled already."""
        bucket = bucket_of_id(order.id)
        keys = [order_key(order.id), refund_states_key(order.id), due_key_of("refunds", order.id)]
        keys.append(events_key(bucket))
        keys += [index(order.user_id, status, bucket) for status in _SETTLED_STATUSES]
        args: list[str | int] = [
            refund.id,
            refund.amount_minor,
            in_progress_member(order.id, refund.id),
            index_member(order),
            now_ms,
            order.id,
        ]
        reply = await self._settle(keys=keys, args=args)
        if int(reply[0]) == 1:
            self._doorbell.ring(order.id)
        return int(reply[0]) == 1

    async def roll_back(self, order: Order, refund: Refund, now_ms: int) -> bool:
        """FAILED, and its amount refundable again; False if it was not PENDING."""
        keys = [order_key(order.id), refund_states_key(order.id), due_key_of("refunds", order.id)]
        args: list[str | int] = [
            refund.id, refund.amount_minor, in_progress_member(order.id, refund.id), now_ms,
            *_line_counts(refund),
        ]  # fmt: skip
        return bool(await self._rollback(keys=keys, args=args))


def _line_counts(refund: Refund) -> list[str | int]:
    """(field, units) pairs of the `refunded:` counters a refund by lines moves."""
    pairs = [(refunded_field(product_id), units) for product_id, units in refund.lines]
    return [part for pair in pairs for part in pair]

"""The Redis side of reserving a basket: the intent that lets recovery undo a dead attempt.

Before an order of several lines holds its first line, its attempt is recorded: a hash
`<order key>:creating` with the lines (product, units, reservation id) and a state, `creating`
or `abandoned`, and the order id in the `orders:creating` lease index. Writing the order removes
both in the same script, and only while the state is `creating`; recovery marks an attempt whose
lease lapsed `abandoned` (so a call that was only stalled can no longer write its order),
releases its lines, then removes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from estore.common.redis import RedisClient, text
from estore.payments.keys import due_key_of, order_key

Plan = list[tuple[str, int, str]]  # (product id, units, reservation id) per line
_LUA = Path(__file__).parent / "lua"


class BasketStore:
    """Intents of orders being created, each one script or transaction on the order's slot."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._abandon = redis.register_script((_LUA / "basket_abandon.lua").read_text())

    def intent_key(self, order_id: str) -> str:
        return f"{order_key(order_id)}:creating"

    async def begin(self, order_id: str, plan: Plan, lease_until_ms: int) -> None:
        """Record the attempt (a retry's renews it, and never revives an abandoned one)."""
        key = self.intent_key(order_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "lines", json.dumps(plan))
            pipe.hsetnx(key, "state", "creating")
            pipe.zadd(due_key_of("creating", order_id), {order_id: lease_until_ms})
            await pipe.execute()

    async def abandon(self, order_id: str) -> Plan | None:
        """Mark the attempt abandoned and return its lines; None if its order was written or
        there is no attempt (both leave the index)."""
        keys = [order_key(order_id), self.intent_key(order_id), due_key_of("creating", order_id)]
        reply = await self._abandon(keys=keys, args=[order_id])
        if text(reply[0]) != "ABANDONED":
            return None
        return [(str(p), int(q), str(r)) for p, q, r in json.loads(text(reply[1]))]

    async def drop(self, order_id: str) -> None:
        """Forget the attempt: its lines are released (or its order written)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.intent_key(order_id))
            pipe.zrem(due_key_of("creating", order_id), order_id)
            await pipe.execute()

"""PAID records its request's outcome in one SET ... GET: what it still guarantees."""

from __future__ import annotations

import json

from estore.common.idempotency import Claim, fingerprint
from estore.payments.models import Order, OrderStatus
from estore.payments.store import Transition
from tests.integration.payments.conftest import BUYER, Payments


async def pending_order(p: Payments) -> Order:
    order = await p.service.create_order(BUYER, "tea", 1, "", "")
    assert order.status is OrderStatus.PENDING
    return order


def cancel() -> Transition:
    return Transition(OrderStatus.CANCELLED, {"updated_at": 1})


async def test_the_outcome_is_recorded_only_while_the_claim_is_ours(payments: Payments) -> None:
    p = payments
    mine = Claim("pay:{pay:951}:idem:user:1:create_order:r1", "mine", 86400, fingerprint("a"), "i")
    theirs = Claim(mine.key, "theirs", 86400, fingerprint("a"), "j")
    # Another call took the claim over (its lease lapsed): its record stays, TTL and all.
    await p.redis.set(mine.key, theirs.record("running", lease_until=1), ex=5000)
    assert (await p.store.transition(await pending_order(p), cancel(), mine, 7)).applied
    assert not mine.recorded
    assert await p.redis.get(mine.key) == theirs.record("running", lease_until=1).encode()
    assert 4990 < await p.redis.ttl(mine.key) <= 5000
    # No record at all (it lapsed): none is made.
    await p.redis.delete(mine.key)
    assert (await p.store.transition(await pending_order(p), cancel(), mine, 7)).applied
    assert not mine.recorded
    assert await p.redis.exists(mine.key) == 0
    # The claim is ours: the outcome is recorded, and the record keeps its time to live.
    await p.redis.set(mine.key, mine.record("running", lease_until=1), ex=5000)
    assert (await p.store.transition(await pending_order(p), cancel(), mine, 7)).applied
    assert mine.recorded
    assert await p.redis.get(mine.key) == mine.record("done", json.dumps({"result": 7})).encode()
    assert 4990 < await p.redis.ttl(mine.key) <= 5000

"""PAID records its request's outcome in one SET ... GET, and the simulator's cheaper charge:
what each still guarantees."""

from __future__ import annotations

import asyncio
import json

from estore.common.idempotency import Claim, fingerprint
from estore.payments.cards import CardInput
from estore.payments.models import Order, OrderStatus
from estore.payments.processor import ChargeOutcome, RefundOutcome
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


async def card_token(p: Payments, number: str) -> str:
    return await p.processor.tokenize(CardInput(number, 12, 2030, "123", "Ana Lima"))


async def test_concurrent_charges_with_one_key_make_one_charge(payments: Payments) -> None:
    token = await card_token(payments, "4242424242424242")
    results = await asyncio.gather(
        *(payments.processor.charge(token, 500 + i, "USD", "k1") for i in range(10))
    )
    assert len(set(results)) == 1
    assert results[0].outcome is ChargeOutcome.SUCCEEDED
    refund = await payments.processor.refund(results[0].charge_id, 500, "r1")
    assert refund.outcome is RefundOutcome.SUCCEEDED
    assert await payments.processor.charges_for("k1") == 1


async def test_a_decline_is_kept_and_a_processor_error_is_not(payments: Payments) -> None:
    sim = payments.processor
    declined = await sim.charge(await card_token(payments, "4000000000009995"), 500, "USD", "k1")
    assert (declined.outcome, declined.decline_code) == (
        ChargeOutcome.DECLINED,
        "INSUFFICIENT_FUNDS",
    )
    assert await sim.find_charge("k1") == declined
    refused = await sim.refund("ch_k1", 1, "r1")  # a declined charge has nothing to refund
    assert refused.refusal == "CHARGE_NOT_FOUND"
    failing = await card_token(payments, "4000000000000119")
    assert (await sim.charge(failing, 500, "USD", "k2")).outcome is ChargeOutcome.PROCESSOR_ERROR
    assert await sim.find_charge("k2") is None


async def test_tokens_and_charges_made_before_still_work(payments: Payments) -> None:
    # A token without its behaviour (the vault says it) and a charge whose ledger is a hash of
    # its own under a random id, as the simulator made them before.
    sim, redis = payments.processor, payments.redis
    await redis.hset(
        "sim:{sim}:token:tok_old", mapping={"outcome": "declined", "code": "EXPIRED_CARD"}
    )
    declined = await sim.charge("tok_old", 500, "USD", "k1")
    assert (declined.outcome, declined.decline_code) == (ChargeOutcome.DECLINED, "EXPIRED_CARD")
    await redis.hset("sim:{sim}:ledger:ch_0123456789abcdef01234567", "charged", 900)
    assert (
        await sim.refund("ch_0123456789abcdef01234567", 600, "r1")
    ).outcome is RefundOutcome.SUCCEEDED
    too_much = await sim.refund("ch_0123456789abcdef01234567", 400, "r2")
    assert too_much.refusal == "EXCEEDS_CHARGE"

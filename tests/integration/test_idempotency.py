"""Request-id deduplication (AIP-155) against a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from estore.common import context, errors
from estore.common.idempotency import Idempotency, fingerprint


class Counter:
    def __init__(self, fail_with: Exception | None = None, pause: float = 0.0) -> None:
        self.calls = 0
        self.fail_with = fail_with
        self.pause = pause

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.pause)
        if self.fail_with is not None:
            raise self.fail_with
        return self.calls


def run(idem: Idempotency, op: Counter, request: str = "a", request_id: str = "r1"):
    return idem.run("user:1", request_id, fingerprint(request), op, lambda n: n, int)


async def test_same_id_same_request_runs_once(redis: Redis) -> None:
    idem, op = Idempotency(redis, "t"), Counter()
    assert await run(idem, op) == 1
    assert await run(idem, op) == 1
    assert op.calls == 1
    assert await idem.run("user:1", "", "x", op, lambda n: n, int) == 2  # no id: no dedup


async def test_same_id_other_request_is_refused(redis: Redis) -> None:
    idem = Idempotency(redis, "t")
    await run(idem, Counter())
    with pytest.raises(errors.InvalidArgument) as caught:
        await run(idem, Counter(), request="b")
    assert caught.value.reason == "REQUEST_ID_REUSED"


async def test_in_flight_is_aborted_or_awaited(redis: Redis) -> None:
    slow = Counter(pause=0.3)
    idem = Idempotency(redis, "t")
    first = asyncio.create_task(run(idem, slow))
    await asyncio.sleep(0.05)
    with pytest.raises(errors.Aborted) as caught:
        await run(idem, slow)
    assert caught.value.reason == "REQUEST_IN_PROGRESS"
    waiting = Idempotency(redis, "t", wait_seconds=5)
    assert await run(waiting, slow) == await first == 1
    assert slow.calls == 1


async def test_final_errors_are_replayed_and_transient_ones_forgotten(redis: Redis) -> None:
    idem = Idempotency(redis, "t")
    bad = Counter(errors.InvalidArgument.field("quantity", "too many"))
    for _ in range(2):
        with pytest.raises(errors.InvalidArgument) as caught:
            await run(idem, bad)
        assert [v.field for v in caught.value.violations] == ["quantity"]
    assert bad.calls == 1

    flaky = Counter(errors.Unavailable("down"))
    with pytest.raises(errors.Unavailable):
        await run(idem, flaky, request_id="r2")
    flaky.fail_with = None
    assert await run(idem, flaky, request_id="r2") == 2  # ran again after the transient failure


async def test_a_call_that_outlived_its_lease_cannot_overwrite_the_retry(redis: Redis) -> None:
    idem = Idempotency(redis, "t", lease_seconds=1, renew_seconds=60)  # an owner that stalls
    slow, quick = Counter(pause=1.6), Counter()
    quick.calls = 41
    first = asyncio.create_task(run(idem, slow))
    await asyncio.sleep(1.2)  # the first claim's lease has lapsed: a retry takes over
    assert await run(idem, quick) == 42
    assert await first == 1  # the first call still answers its own caller...
    assert await run(idem, Counter()) == 42  # ...but the stored outcome stays the retry's


async def test_a_live_owner_keeps_its_claim_past_the_lease(redis: Redis) -> None:
    slow = Counter(pause=2.5)
    first = asyncio.create_task(run(Idempotency(redis, "t", lease_seconds=1), slow))
    await asyncio.sleep(0.1)
    # The duplicate waits through more than two leases: the owner renews, so it is never
    # taken over and the operation runs once.
    waiting = Idempotency(redis, "t", lease_seconds=1, wait_seconds=10)
    assert await run(waiting, slow) == await first == 1
    assert slow.calls == 1


async def test_a_dead_owners_claim_is_taken_over_once_its_lease_lapses(redis: Redis) -> None:
    dead = Idempotency(redis, "t", lease_seconds=1)
    # The owner claims, then dies (SIGKILL: nothing finishes or forgets the claim).
    assert (await dead._claim(dead.key("user:1", "r1"), fingerprint("a"), "c1"))[0] == "new"
    with pytest.raises(errors.Aborted):
        await run(Idempotency(redis, "t"), Counter())  # within the lease: still running
    await asyncio.sleep(1.2)
    with pytest.raises(errors.InvalidArgument):  # the lapsed claim still knows its request
        await run(Idempotency(redis, "t"), Counter(), request="b")
    started = time.monotonic()
    retry = Idempotency(redis, "t", wait_seconds=10)
    assert await run(retry, Counter()) == 1  # the same request takes the claim over and runs
    assert time.monotonic() - started < 5
    assert await run(retry, Counter()) == 1  # and its outcome is the one kept


async def test_a_duplicate_waits_no_longer_than_the_callers_deadline(redis: Redis) -> None:
    slow = Counter(pause=8)
    first = asyncio.create_task(run(Idempotency(redis, "t"), slow))
    await asyncio.sleep(0.1)
    waiting = Idempotency(redis, "t", wait_seconds=10)
    token = context.deadline.set(time.monotonic() + 4)
    started = time.monotonic()
    try:
        with pytest.raises(errors.Aborted) as caught:
            await run(waiting, slow)
    finally:
        context.deadline.reset(token)
    assert caught.value.reason == "REQUEST_IN_PROGRESS"
    assert time.monotonic() - started < 4  # answered before the caller gives up
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_an_outcome_is_kept_its_whole_keep_time_after_a_long_call(redis: Redis) -> None:
    # The outcome is recorded without an EXPIRE: the claim and each renewal set the record to
    # live the keep time plus a margin, so a call that runs long still leaves the whole keep.
    idem = Idempotency(redis, "t", ttl_seconds=100, lease_seconds=0.3)
    key = idem.key("user:1", "r1")

    async def slow() -> int:
        await redis.expire(key, 5)  # as if the claim were old: only a renewal can save it
        await asyncio.sleep(0.5)  # past one renewal
        return 7

    assert await idem.run("user:1", "r1", fingerprint("a"), slow, lambda n: n, int) == 7
    assert await redis.ttl(key) >= 100
    assert await run(idem, Counter()) == 7  # the kept outcome

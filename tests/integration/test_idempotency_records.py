"""Request-id records as one string (claimed by a bare SET NX EX), and the hashes of before."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from estore.common import errors
from estore.common.idempotency import Idempotency, fingerprint


class Op:
    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.pause = pause

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.pause)
        return 100 + self.calls


def run(idem: Idempotency, op: Op, request: str = "a", request_id: str = "r1"):
    return idem.run("user:1", request_id, fingerprint(request), op, lambda n: n, int)


async def test_concurrent_duplicates_of_a_new_id_run_it_once(redis: Redis) -> None:
    # Twenty calls race for one new id: one SET NX wins, the others wait for its outcome.
    op = Op(pause=0.2)
    idem = Idempotency(redis, "t", wait_seconds=5)
    assert await asyncio.gather(*(run(idem, op) for _ in range(20))) == [101] * 20
    assert op.calls == 1
    record = await redis.get(idem.key("user:1", "r1"))
    assert isinstance(record, bytes)
    assert record.startswith(b"done|")
    assert 24 * 3600 < await redis.ttl(idem.key("user:1", "r1")) <= 25 * 3600


async def test_a_new_id_is_claimed_by_one_set_in_the_claim_script(redis: Redis) -> None:
    idem = Idempotency(redis, "t")
    async with redis.monitor() as feed:
        calls: list[str] = []

        async def listen() -> None:
            async for event in feed.listen():
                name = str(event["command"]).split(" ", 1)[0]
                if name not in ("HELLO", "CLIENT", "SELECT", "PING"):
                    calls.append(name)

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.1)
        await idem.run_reading(
            "user:1", "r1", fingerprint("a"), lambda claim, reads: Op()(), lambda n: n, int,
            exists=["order"],
        )  # fmt: skip
        await asyncio.sleep(0.1)
        task.cancel()
    # The claim script (SET NX EX) and its read; the outcome's script then reads and rewrites
    # the string (GET, SET): no HMGET, HSET or EXPIRE.
    claim = calls.index("SET")
    assert calls[claim - 1 : claim + 2] == ["EVALSHA", "SET", "EXISTS"]
    assert calls[claim + 2 :].count("SET") == 1
    assert not {"HMGET", "HSET", "EXPIRE"} & set(calls)


def old_record(**fields: str | int) -> dict[Any, Any]:
    """A record as the format before wrote it: a hash."""
    return {"fingerprint": fingerprint("a"), **fields}


async def test_records_of_the_format_before_are_still_read(redis: Redis) -> None:
    idem, op = Idempotency(redis, "t"), Op()
    done = json.dumps({"result": 7})
    await redis.hset(idem.key("user:1", "done"), mapping=old_record(state="done", response=done))
    assert await run(idem, op, request_id="done") == 7  # its outcome, and nothing runs
    with pytest.raises(errors.InvalidArgument):
        await run(idem, op, request="b", request_id="done")
    # A live claim of an older instance (with a lease, or from before leases) is running.
    live = old_record(
        state="running", claim="x", owner="o", lease_until=int(time.time() * 1e3) + 60_000
    )
    await redis.hset(idem.key("user:1", "live"), mapping=live)
    await redis.hset(idem.key("user:1", "no-lease"), mapping=old_record(state="running"))
    for request_id in ("live", "no-lease"):
        with pytest.raises(errors.Aborted):
            await run(idem, op, request_id=request_id)
    assert op.calls == 0
    # A lapsed one is taken over, and its record rewritten as a string, which keeps the outcome.
    lapsed = old_record(state="running", claim="x", owner="o", lease_until=1)
    await redis.hset(idem.key("user:1", "lapsed"), mapping=lapsed)
    await redis.expire(idem.key("user:1", "lapsed"), 3600)
    assert await run(idem, op, request_id="lapsed") == 101
    assert await run(idem, op, request_id="lapsed") == 101
    assert await redis.type(idem.key("user:1", "lapsed")) == b"string"
    assert await redis.ttl(idem.key("user:1", "lapsed")) > 24 * 3600


async def test_an_old_owner_cannot_finish_or_renew_over_a_string_record(redis: Redis) -> None:
    # A hash of the format before is never a new claim's: finishing or renewing leaves it.
    idem = Idempotency(redis, "t")
    key = idem.key("user:1", "r1")
    await redis.hset(key, mapping=old_record(state="running", claim="c1"))
    assert await idem._renew_claim(key, "c1") is False
    await idem._finish(key, "c1", json.dumps({"result": 1}))
    assert await redis.hget(key, "state") == b"running"

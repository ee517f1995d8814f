"""run_reading: an operation's first reads ride on the claim, and it may record its outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from estore.common import idempotency
from estore.common.idempotency import Claim, Idempotency, fingerprint

FINISH = (Path(idempotency.__file__).parent / "lua" / "idempotency_finish.lua").read_text()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.hset("card", mapping={"brand": "visa"})
    await client.set("order", "1")
    yield client
    await client.aclose()


class Reader:
    """An operation that keeps what it was handed, and returns its call count."""

    def __init__(self) -> None:
        self.handed: list[tuple[Claim | None, list[Any]]] = []

    async def __call__(self, claim: Claim | None, reads: list[Any]) -> int:
        self.handed.append((claim, reads))
        return len(self.handed)


def read(idem: Idempotency, op: Any, request_id: str) -> Any:
    return idem.run_reading(
        "user:1", request_id, fingerprint("a"), op, lambda n: n, int,
        hashes=["card", "no-card"], exists=["order", "no-order"],
    )  # fmt: skip


@pytest.mark.parametrize("request_id", ["r1", ""])
async def test_the_reads_reach_the_operation(redis: Redis, request_id: str) -> None:
    op = Reader()
    assert await read(Idempotency(redis, "t"), op, request_id) == 1
    [(claim, reads)] = op.handed
    assert reads == [{b"brand": b"visa"}, {}, True, False]
    assert (claim is None) == (not request_id)


async def test_a_replay_reads_nothing_and_runs_nothing(redis: Redis) -> None:
    idem, op = Idempotency(redis, "t"), Reader()
    assert await read(idem, op, "r1") == 1
    assert await read(idem, op, "r1") == 1
    assert len(op.handed) == 1


async def test_an_outcome_the_operation_recorded_is_the_one_kept(redis: Redis) -> None:
    idem = Idempotency(redis, "t")

    async def records_its_own(claim: Claim | None, reads: list[Any]) -> int:
        assert claim is not None
        await redis.eval(FINISH, 1, claim.key, *claim.outcome_args(7))
        claim.recorded = True
        return 8  # what run_reading would have recorded, had the operation not

    assert await read(idem, records_its_own, "r1") == 8
    assert await read(idem, Reader(), "r1") == 7  # the retry gets the recorded outcome

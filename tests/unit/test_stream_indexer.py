"""The indexer's prompt step: this process's deferred events and rings never wait for a pass."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from estore.common.redis import RedisClient
from estore.common.stream_indexer import StreamIndexer
from estore.common.sweep_leases import BucketLeases


class _Redis:
    def register_script(self, body: str) -> object:
        return object()


class _Stuck(StreamIndexer):
    """An indexer whose first pass never ends (as one adopting many buckets on a loaded node)."""

    DOORBELL = "doorbell"
    METRIC = "lag"
    METRIC_HELP = "lag"
    TASK_NAME = "test-indexer"
    log = logging.getLogger("test")

    def __init__(self) -> None:
        super().__init__(cast(RedisClient, _Redis()), cast(BucketLeases, None), interval=0.02)
        self.prompt_steps = 0

    async def before_pass(self) -> None:
        self.prompt_steps += 1

    async def run_once(self) -> int:
        await asyncio.Event().wait()
        return 0

    async def apply_entries(self, entries: list[Any]) -> None:
        raise AssertionError("nothing is read here")


async def test_deferred_events_and_rings_go_out_while_a_pass_runs_long() -> None:
    indexer = _Stuck()
    indexer.start()
    try:
        await asyncio.sleep(0.3)
        assert indexer.prompt_steps >= 5
    finally:
        await indexer.stop()
    steps = indexer.prompt_steps
    await asyncio.sleep(0.1)
    assert indexer.prompt_steps == steps  # stopped with the indexer


class _NoBuckets:
    """Leases of no bucket: a pass does nothing after its before_pass."""

    held_ranges: tuple[int, ...] = ()

    async def buckets(self) -> list[int]:
        return []


class _Slow(StreamIndexer):
    """A real pass whose before_pass takes a while and notes how many run at once."""

    DOORBELL = "doorbell"
    METRIC = "lag"
    METRIC_HELP = "lag"
    TASK_NAME = "test-indexer"
    log = logging.getLogger("test")

    def __init__(self) -> None:
        super().__init__(cast(RedisClient, _Redis()), cast(BucketLeases, _NoBuckets()), 0.02)
        self.running = 0
        self.most = 0
        self.passes = 0

    async def before_pass(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.05)
        self.running -= 1
        self.passes += 1

    async def apply_entries(self, entries: list[Any]) -> None:
        raise AssertionError("nothing is read here")


async def test_before_pass_never_runs_twice_at_once() -> None:
    indexer = _Slow()
    indexer.start()
    try:
        await asyncio.sleep(0.4)
    finally:
        await indexer.stop()
    assert indexer.passes >= 4
    assert indexer.most == 1

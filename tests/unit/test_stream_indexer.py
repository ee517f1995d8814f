"""The indexer's prompt step: this process's deferred events and rings never wait for a pass,
and never run twice at once."""

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


class _NoBuckets:
    """Leases of no bucket: a pass does nothing after its before_pass."""

    held_ranges: tuple[int, ...] = ()

    async def buckets(self) -> list[int]:
        return []


class _Indexer(StreamIndexer):
    """An indexer of no stream that counts its before_pass steps, and how many ran at once."""

    DOORBELL = "doorbell"
    METRIC = "lag"
    METRIC_HELP = "lag"
    TASK_NAME = "test-indexer"
    log = logging.getLogger("test")

    def __init__(self, step_seconds: float = 0.0) -> None:
        super().__init__(cast(RedisClient, _Redis()), cast(BucketLeases, _NoBuckets()), 0.02)
        self._step_seconds = step_seconds
        self.steps = 0
        self.running = 0
        self.most = 0

    async def before_pass(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self._step_seconds)
        self.running -= 1
        self.steps += 1

    async def apply_entries(self, entries: list[Any]) -> None:
        raise AssertionError("nothing is read here")


class _Stuck(_Indexer):
    """Its first pass never ends (as one adopting many buckets on a loaded node)."""

    async def run_once(self) -> int:
        await asyncio.Event().wait()
        return 0


async def test_deferred_events_and_rings_go_out_while_a_pass_runs_long() -> None:
    indexer = _Stuck()
    indexer.start()
    try:
        await asyncio.sleep(0.3)
        assert indexer.steps >= 5
    finally:
        await indexer.stop()
    steps = indexer.steps
    await asyncio.sleep(0.1)
    assert indexer.steps == steps  # stopped with the indexer


async def test_before_pass_never_runs_twice_at_once() -> None:
    indexer = _Indexer(step_seconds=0.05)  # the real pass, and the prompt step beside it
    indexer.start()
    try:
        await asyncio.sleep(0.4)
    finally:
        await indexer.stop()
    assert indexer.steps >= 4
    assert indexer.most == 1

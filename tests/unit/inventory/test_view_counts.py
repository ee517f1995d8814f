"""Batched views: a batch that failed is sent again as it was, so none is lost or counted twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pytest

from estore.inventory import task_view_counts
from estore.inventory.task_view_counts import ViewCounts


class FlakyRedis:
    """Adds batches once per id, as add_views.lua does; can fail a call after running it."""

    def __init__(self) -> None:
        self.views: Counter[str] = Counter()
        self.added: set[str] = set()
        self.fail_after_running = 0  # the next this many calls run, then raise (a timeout)

    async def add_views(self, batch_id: str, views: Mapping[str, tuple[int, int]]) -> None:
        if batch_id not in self.added:
            self.added.add(batch_id)
            for product_id, (count, _) in views.items():
                self.views[product_id] += count
        if self.fail_after_running:
            self.fail_after_running -= 1
            raise ConnectionError("timed out after Redis ran the script")


async def test_a_batch_that_timed_out_after_running_is_not_counted_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(task_view_counts, "BATCH_PRODUCTS", 2)
    redis = FlakyRedis()
    counts = ViewCounts(redis.add_views)
    for product in ("a", "b", "c", "a"):
        counts.count(product, 1)
    redis.fail_after_running = 1  # the first batch (a, b) lands, then the call fails
    with pytest.raises(ConnectionError):
        await counts.flush()
    assert counts.waiting == 3  # a and b as a batch of their own, c not sent
    counts.count("c", 2)
    await counts.flush()
    assert redis.views == Counter({"a": 2, "b": 1, "c": 2})
    assert counts.waiting == 0


async def test_views_counted_during_a_failed_flush_are_kept() -> None:
    redis = FlakyRedis()
    counts = ViewCounts(redis.add_views)
    counts.count("a", 1)

    async def down(batch_id: str, views: Mapping[str, tuple[int, int]]) -> None:
        raise ConnectionError("Redis is down")

    counts._add_views = down
    with pytest.raises(ConnectionError):
        await counts.flush()
    counts._add_views = redis.add_views
    counts.count("a", 2)
    await counts.flush()
    assert redis.views == Counter({"a": 2})

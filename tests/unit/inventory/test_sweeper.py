"""The reservation sweeper stops when asked, even if a cancellation gets lost along the way."""

from __future__ import annotations

import asyncio
import contextlib

from estore.inventory.task_sweeper import LeasedSlices, ReservationSweeper


async def test_stop_ends_the_sweeper_even_when_a_sweep_swallows_the_cancellation() -> None:
    sweeps = 0

    async def sweep() -> int:
        nonlocal sweeps
        sweeps += 1
        if sweeps == 1:
            # What Python 3.11's asyncio.wait_for (inside redis-py) does when a cancellation
            # lands as its call completes: it returns the result, and the cancellation is lost.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)
        else:
            await asyncio.sleep(10)
        return 0

    sweeper = ReservationSweeper(sweep, interval=0.01)
    sweeper.start()
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(sweeper.stop())
    try:
        done, _ = await asyncio.wait({stopping}, timeout=5)
        assert done, "stop() never returned: the sweeper kept sweeping"
    finally:
        stopping.cancel()  # without the fix, this cancellation reaches the sweep and ends it
        with contextlib.suppress(asyncio.CancelledError):
            await stopping


async def test_leased_buckets_are_swept_in_slices_a_full_turn_a_second() -> None:
    async def held() -> list[int]:
        return list(range(10))

    leased = LeasedSlices(held, interval=0.25)  # four passes a second: four slices
    turn = [await leased() for _ in range(4)]
    assert sorted(b for part in turn for b in part) == list(range(10))
    assert await leased() == turn[0]

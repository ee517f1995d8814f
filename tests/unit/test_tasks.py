"""A background task stops even when a library loses the cancellation sent to it."""

from __future__ import annotations

import asyncio

import pytest

from estore.common.tasks import settled, stop_task


async def _loses_one_cancellation(rounds: list[int]) -> None:
    """Like a task whose Redis call hit Python 3.11's wait_for losing a cancellation."""
    lost = False
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if lost:
                raise
            lost = True  # swallowed: the task goes on as if nothing happened
        rounds.append(1)


async def test_a_lost_cancellation_is_sent_again() -> None:
    rounds: list[int] = []
    task = asyncio.create_task(_loses_one_cancellation(rounds))
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(stop_task(task))
    done, _ = await asyncio.wait([stopping], timeout=5)
    task.cancel()  # (without a second cancellation the task would never end)
    assert done == {stopping}
    assert task.cancelled()


async def test_a_task_that_failed_reports_its_error() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await stop_task(task)


async def _task_and(value: int) -> tuple[asyncio.Task[object] | None, int]:
    if value < 0:
        raise ValueError(value)
    return asyncio.current_task(), value


async def test_settled_gives_each_outcome_in_order_as_gather_would() -> None:
    outcomes = await settled(_task_and(1), _task_and(-2), _task_and(3))
    assert [o if isinstance(o, BaseException) else o[1] for o in outcomes][::2] == [1, 3]
    assert isinstance(outcomes[1], ValueError)
    assert await settled() == []


async def test_settled_awaits_a_lone_call_in_the_callers_task() -> None:
    ((task, value),) = await settled(_task_and(7))  # type: ignore[misc]
    assert (task, value) == (asyncio.current_task(), 7)
    (error,) = await settled(_task_and(-1))
    assert isinstance(error, ValueError)

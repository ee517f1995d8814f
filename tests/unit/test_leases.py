"""A lease's beat never holds its holder up, whatever its renewal does with a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from estore.common.leases import kept_alive


async def test_the_body_ends_when_a_renewal_swallows_its_cancellation() -> None:
    renewing = asyncio.Event()

    async def renew() -> bool:
        renewing.set()
        # As a client that turns a cancelled command into an error of its own would.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        return True

    async with asyncio.timeout(2):  # before the fix, leaving the body waited for ever
        async with kept_alive(renew, 0.01, "a test lease"):
            await renewing.wait()


async def test_the_lease_is_renewed_while_the_body_runs_and_not_after() -> None:
    renewals = 0

    async def renew() -> bool:
        nonlocal renewals
        renewals += 1
        return True

    async with kept_alive(renew, 0.01, "a test lease"):
        await asyncio.sleep(0.1)
    assert renewals >= 3
    after = renewals
    await asyncio.sleep(0.05)
    assert renewals == after


async def test_a_body_shorter_than_a_beat_starts_no_renewing_task() -> None:
    renewals = 0

    async def renew() -> bool:
        nonlocal renewals
        renewals += 1
        return True

    before = asyncio.all_tasks()
    async with kept_alive(renew, 0.05, "a test lease"):
        await asyncio.sleep(0.01)
        assert asyncio.all_tasks() == before
    await asyncio.sleep(0.1)
    assert renewals == 0


async def test_the_first_renewal_comes_one_beat_after_the_body_starts() -> None:
    loop = asyncio.get_running_loop()
    renewed_at: list[float] = []

    async def renew() -> bool:
        renewed_at.append(loop.time())
        return True

    started = loop.time()
    async with kept_alive(renew, 0.05, "a test lease"):
        await asyncio.sleep(0.13)
    # Never sooner than a beat apart (a loop's timers may round to the millisecond).
    assert len(renewed_at) in (1, 2)
    gaps = [later - earlier for earlier, later in itertools.pairwise([started, *renewed_at])]
    assert min(gaps) >= 0.049

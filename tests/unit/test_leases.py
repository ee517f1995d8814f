"""A lease's beat never holds its holder up, whatever its renewal does with a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

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

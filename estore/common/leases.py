"""Leases kept alive while their holder works: a background task renews them on a beat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("estore.leases")


@contextlib.asynccontextmanager
async def kept_alive(
    renew: Callable[[], Awaitable[bool]], every: float, what: str
) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the body runs, until it says the lease is gone."""
    task = asyncio.create_task(_beat(renew, every, what), name=f"renew {what}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _beat(renew: Callable[[], Awaitable[bool]], every: float, what: str) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if not await renew():
                log.warning("the lease on %s was taken or finished elsewhere", what)
                return
        except Exception:  # the store is down: try again at the next beat
            log.warning("could not renew the lease on %s", what, exc_info=True)

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
    stopped = asyncio.Event()
    task = asyncio.create_task(_beat(renew, every, what, stopped), name=f"renew {what}")
    try:
        yield
    finally:
        stopped.set()
        task.cancel()
        # A renewal in flight may swallow its cancellation (a client library can turn it into
        # an error of its own, which the beat survives): the flag ends the beat after it, and
        # the holder waits at most one beat for that, never for ever.
        await asyncio.wait({task}, timeout=every)


async def _beat(
    renew: Callable[[], Awaitable[bool]], every: float, what: str, stopped: asyncio.Event
) -> None:
    while not stopped.is_set():
        await asyncio.sleep(every)
        if stopped.is_set():
            return
        try:
            if not await renew():
                log.warning("the lease on %s was taken or finished elsewhere", what)
                return
        except Exception:  # the store is down: try again at the next beat
            log.warning("could not renew the lease on %s", what, exc_info=True)

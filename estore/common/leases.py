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
    beat = _Beat(renew, every, what)
    # Most bodies end well within one beat: the renewing task starts only when the first
    # renewal is due (a timer costs far less than a task started and cancelled for nothing).
    first = asyncio.get_running_loop().call_later(every, beat.start)
    try:
        yield
    finally:
        first.cancel()
        await beat.stop()


class _Beat:
    """The renewals of one lease, from its first due renewal until the holder stops them."""

    def __init__(self, renew: Callable[[], Awaitable[bool]], every: float, what: str) -> None:
        self._renew = renew
        self._every = every
        self._what = what
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"renew {self._what}")

    async def stop(self) -> None:
        self._stopped = True
        if self._task is None:
            return
        self._task.cancel()
        # A renewal in flight may swallow its cancellation (a client library can turn it into
        # an error of its own, which the beat survives): the flag ends the beat after it, and
        # the holder waits at most one beat for that, never for ever.
        await asyncio.wait({self._task}, timeout=self._every)

    async def _run(self) -> None:
        while not self._stopped:
            try:
                if not await self._renew():
                    log.warning("the lease on %s was taken or finished elsewhere", self._what)
                    return
            except Exception:  # the store is down: try again at the next beat
                log.warning("could not renew the lease on %s", self._what, exc_info=True)
            if self._stopped:
                return
            await asyncio.sleep(self._every)

"""Work a request starts but does not wait for: kept referenced, its errors logged, drainable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("estore.users")


class BackgroundTasks:
    """Tasks running after the reply was sent; `drain` waits for them (shutdown, tests)."""

    def __init__(self) -> None:
        # The event loop keeps only weak references to tasks: this set keeps them alive.
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` on its own; an exception it raises is logged, never lost or re-raised."""
        task = asyncio.create_task(_logged(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every task started so far, and any started meanwhile, has finished."""
        while pending := {task for task in self._tasks if not task.done()}:
            await asyncio.wait(pending)


async def _logged(work: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await work
    except Exception:
        log.exception("background task failed", extra={"task": name})

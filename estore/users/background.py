"""Work a request starts but does not wait for: kept referenced, its errors logged, drainable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("estore.users")

# Each task holds a database connection for a moment and may wait on SMTP; beyond this many at
# once, a flood of requests would only queue up memory and connections.
MAX_RUNNING = 100


class BackgroundTasks:
    """Tasks running after the reply was sent, at most `limit` at once; `drain` waits for them."""

    def __init__(self, limit: int = MAX_RUNNING) -> None:
        # The event loop keeps only weak references to tasks: this set keeps them alive.
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = limit
        self.dropped = 0  # in all
        self._dropped_lately = 0  # since the limit was last reached

    def start(self, work: Coroutine[Any, Any, None], name: str) -> bool:
        """Run `work` on its own (errors logged); dropped when `limit` tasks already run."""
        if len(self._tasks) >= self._limit:
            work.close()  # never started: nothing to undo, and no "never awaited" warning
            self.dropped += 1
            self._dropped_lately += 1
            if self._dropped_lately == 1:  # once per flood, not once per request
                log.warning("background work dropped: %d tasks running", len(self._tasks))
            return False
        if self._dropped_lately:
            log.warning("background work was dropped %d times", self._dropped_lately)
            self._dropped_lately = 0
        task = asyncio.create_task(_logged(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait until every task started so far, and any started meanwhile, has finished."""
        while pending := {task for task in self._tasks if not task.done()}:
            await asyncio.wait(pending)


async def _logged(work: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await work
    except Exception:
        log.exception("background task failed", extra={"task": name})

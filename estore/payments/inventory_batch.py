"""Natural batching: concurrent calls of one kind ride together in one batch RPC, no timers.

A call is sent at once when a slot is free; calls that arrive while every slot is busy wait and
leave together, in one batch, as soon as a slot frees. So an idle caller pays no delay, and a
busy one sends fewer, fuller RPCs. Batchers of several kinds may share their slots (`Slots`): a
freed slot goes to the kind whose first waiting call has waited longest. Each call keeps its own
deadline (a batch's is its tightest caller's), and a caller that is cancelled leaves the others'
calls alone.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Request = TypeVar("Request")
Reply = TypeVar("Reply")
# Sends (requests, timeout seconds); answers each request in order with its reply or its error.
Send = Callable[[list[Request], float], Awaitable[Sequence[Reply | BaseException]]]


_arrivals = itertools.count()  # the order calls arrived in, over every batcher


@dataclass
class _Waiting(Generic[Request, Reply]):
    request: Request
    deadline: float  # time.monotonic()
    answer: asyncio.Future[Reply] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    arrival: int = field(default_factory=lambda: next(_arrivals))


class Slots:
    """How many batches may be out at once, shared by the batchers that take them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.batchers: list[Batcher[Any, Any]] = []

    def free(self) -> None:
        """A batch returned: its slot goes to the batcher whose calls have waited longest."""
        self.taken -= 1
        waiting = [b for b in self.batchers if b.waiting_since() is not None]
        if waiting:
            min(waiting, key=lambda b: b.waiting_since() or 0).start()


class Batcher(Generic[Request, Reply]):
    """Gathers concurrent calls into batches of at most `max_entries`, `max_in_flight` at once
    (or as many as the `slots` it shares with other batchers allow)."""

    def __init__(
        self,
        send: Send[Request, Reply],
        expired: Callable[[], BaseException],
        *,
        max_entries: int,
        max_in_flight: int = 1,
        slots: Slots | None = None,
    ) -> None:
        self._send = send
        self._expired = expired  # the error of a call whose deadline passed while it waited
        self._max_entries = max_entries
        self._slots = Slots(max_in_flight) if slots is None else slots
        self._slots.batchers.append(self)
        self._queue: deque[_Waiting[Request, Reply]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, request: Request, within: float) -> Reply:
        """Send `request` in the next batch; its reply, or raise its error."""
        waiting: _Waiting[Request, Reply] = _Waiting(request, time.monotonic() + within)
        self._queue.append(waiting)
        self.start()
        # Cancelling this call cancels its future only: the batch it rides in carries on.
        return await waiting.answer

    def waiting_since(self) -> int | None:
        """When the first call still waiting arrived (None when none waits)."""
        return self._queue[0].arrival if self._queue else None

    def start(self) -> None:
        """Take a free slot for the waiting calls; the batch is cut when the task starts, so
        every call made in the meantime (one gather's) rides along."""
        if self._queue and self._slots.taken < self._slots.limit:
            self._slots.taken += 1
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _cut(self) -> list[_Waiting[Request, Reply]]:
        batch: list[_Waiting[Request, Reply]] = []
        now = time.monotonic()
        while self._queue and len(batch) < self._max_entries:
            waiting = self._queue.popleft()
            if waiting.answer.done():  # cancelled while it waited
                continue
            if waiting.deadline <= now:
                waiting.answer.set_exception(self._expired())
                continue
            batch.append(waiting)
        return batch

    async def _run(self) -> None:
        try:
            batch = self._cut()
            if batch:
                await self._deliver(batch)
        finally:
            self._slots.free()

    async def _deliver(self, batch: list[_Waiting[Request, Reply]]) -> None:
        timeout = min(w.deadline for w in batch) - time.monotonic()
        try:
            outcomes = await self._send([w.request for w in batch], timeout)
        except BaseException as error:  # the whole call failed: every caller learns it
            for waiting in batch:
                _answer(waiting.answer, error)
            if not isinstance(error, Exception):
                raise
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _answer(waiting.answer, outcome)

    async def close(self) -> None:
        """Wait for the batches in flight (their callers are waiting for them)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _answer(answer: asyncio.Future[Reply], outcome: Reply | BaseException) -> None:
    if answer.done():  # its caller was cancelled
        return
    if isinstance(outcome, asyncio.CancelledError):
        answer.cancel()
    elif isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)

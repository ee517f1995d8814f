"""Fail fast while a service's store is down, rather than make every call wait on its pool."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg.errors

from estore.common.errors import StoreUnavailable
from estore.common.status import POOL_WAIT, store_failure

# Store errors that PostgreSQL answered with: it is up, the statement lost a race or its time.
_ANSWERED = (
    psycopg.errors.TransactionRollback,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
)


class StoreBreaker:
    """Open while the store is down; the interceptor then refuses calls at once.

    The health probe decides: it opens the breaker when the store does not answer and closes it
    when it answers again. A call that meets a store failure opens it at once and has the probe
    run now, so one failure costs one call and, if the store is in fact fine, one probe.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._open = False
        self._probe_now = asyncio.Event()

    @property
    def is_open(self) -> bool:
        """Whether calls are being refused."""
        return self._open

    def check(self) -> None:
        """Refuse the call (StoreUnavailable) while the breaker is open."""
        if self._open:
            raise StoreUnavailable(f"the {self._service} store is unavailable; retry with backoff")

    def observe(self, error: BaseException) -> None:
        """Open on a store failure behind `error`; a busy pool only asks for a probe."""
        failure = store_failure(error)
        if failure is None or isinstance(failure, _ANSWERED):
            return
        if not isinstance(failure, POOL_WAIT):
            self._open = True
        self._probe_now.set()

    def record_probe(self, healthy: bool) -> None:
        """The probe's verdict: closed when the store answered, open when it did not."""
        self._open = not healthy

    async def next_probe(self, seconds: float) -> None:
        """Wait until the next probe is due: after `seconds`, or as soon as a call met a failure."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._probe_now.wait(), seconds)
        self._probe_now.clear()

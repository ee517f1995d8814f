"""Per-request values that the interceptor sets and the layers below read."""

from __future__ import annotations

import time
from contextvars import ContextVar

from estore.common.auth import ANONYMOUS, Caller
from estore.common.errors import Unauthenticated

request_id: ContextVar[str] = ContextVar("request_id", default="")
# When the current call's deadline passes, on the time.monotonic() clock (None: no deadline).
deadline: ContextVar[float | None] = ContextVar("deadline", default=None)
_caller: ContextVar[Caller | Unauthenticated] = ContextVar("caller", default=ANONYMOUS)


def set_caller(caller: Caller | Unauthenticated) -> None:
    """Remember who calls, or why their credentials were refused."""
    _caller.set(caller)


def current_caller() -> Caller:
    """The caller of the current request; raises the credential error if there was one."""
    caller = _caller.get()
    if isinstance(caller, Unauthenticated):
        raise caller
    return caller


def time_remaining() -> float | None:
    """Seconds left before the current call's deadline, or None when it has none."""
    until = deadline.get()
    return None if until is None else max(0.0, until - time.monotonic())

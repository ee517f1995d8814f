"""Per-request values that the interceptor sets and the layers below read."""

from __future__ import annotations

import time
from contextvars import ContextVar

from estore.common.auth import ANONYMOUS, Caller

request_id: ContextVar[str] = ContextVar("request_id", default="")
service: ContextVar[str] = ContextVar("service", default="")  # users, inventory, payments
# When the current call's deadline passes, on the time.monotonic() clock (None: no deadline).
deadline: ContextVar[float | None] = ContextVar("deadline", default=None)
_caller: ContextVar[Caller] = ContextVar("caller", default=ANONYMOUS)


def set_caller(caller: Caller) -> None:
    """Remember who calls."""
    _caller.set(caller)


def current_caller() -> Caller:
    """The caller of the current request (anonymous when no token was sent)."""
    return _caller.get()


def time_remaining() -> float | None:
    """Seconds left before the current call's deadline, or None when it has none."""
    until = deadline.get()
    return None if until is None else max(0.0, until - time.monotonic())

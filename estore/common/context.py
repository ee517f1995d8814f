"""Per-request values that the interceptor sets and the layers below read."""

from __future__ import annotations

from contextvars import ContextVar

from estore.common.auth import ANONYMOUS, Caller
from estore.common.errors import Unauthenticated

request_id: ContextVar[str] = ContextVar("request_id", default="")
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

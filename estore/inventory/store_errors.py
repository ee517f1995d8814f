"""The one place that turns Redis client failures into the domain's UNAVAILABLE."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from estore.common.errors import Unavailable
from estore.common.redis_cluster import CLUSTER_DOWN

C = TypeVar("C", bound=type)
_DOWN: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    BusyLoadingError,
    OSError,
    *CLUSTER_DOWN,
)


def _unavailable() -> Unavailable:
    return Unavailable("the inventory store is unavailable; retry with backoff")


def _wrap_coroutine(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except _DOWN as error:  # chained: the server's breaker looks for the store failure
            raise _unavailable() from error

    return wrapper


def _wrap_generator(method: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(*args, **kwargs):
                yield item
        except _DOWN as error:
            raise _unavailable() from error

    return wrapper


def store_errors(cls: C) -> C:
    """Class decorator: every public async method raises Unavailable when Redis is down."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if inspect.isasyncgenfunction(member):
            setattr(cls, name, _wrap_generator(member))
        elif inspect.iscoroutinefunction(member):
            setattr(cls, name, _wrap_coroutine(member))
    return cls

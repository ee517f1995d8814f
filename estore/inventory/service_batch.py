"""Batches of stock calls: each entry run, checked and answered as its single call would be."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from estore.common.auth import Caller
from estore.common.errors import DomainError, InvalidArgument, Unavailable
from estore.common.status import as_domain_error

MAX_ENTRIES = 100
Entry = TypeVar("Entry")
Result = TypeVar("Result")


async def run_each(
    caller: Caller,
    entries: Sequence[Entry],
    run: Callable[[Entry], Awaitable[Result]],
) -> list[Result | DomainError]:
    """Run every entry at once; an entry's domain error is its answer, naming `entries[i]`.

    A store outage fails the whole call (UNAVAILABLE, which the caller's channel retries, and
    every entry is idempotent), as does anything unexpected: no entry is answered half known.
    """
    caller.require_service()
    if not 1 <= len(entries) <= MAX_ENTRIES:
        raise InvalidArgument.field("entries", f"must hold 1 to {MAX_ENTRIES} entries")
    outcomes = await asyncio.gather(*(run(entry) for entry in entries), return_exceptions=True)
    answers: list[Result | DomainError] = []
    for i, outcome in enumerate(outcomes):
        if not isinstance(outcome, BaseException):
            answers.append(outcome)
            continue
        error = as_domain_error(outcome) if isinstance(outcome, Exception) else None
        if error is None or isinstance(error, Unavailable):
            raise outcome
        answers.append(_naming(error, i))
    return answers


def _naming(error: DomainError, index: int) -> DomainError:
    """`error` with its violations' fields under `entries[index]`."""
    error.violations = [
        replace(v, field=f"entries[{index}].{v.field}") if v.field else v for v in error.violations
    ]
    return error

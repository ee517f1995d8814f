"""Batches of stock calls: each entry checked, run and answered as its single call would be."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from estore.common.auth import Caller
from estore.common.errors import DomainError, InvalidArgument, Unavailable
from estore.common.status import as_domain_error
from estore.common.tasks import settled

MAX_ENTRIES = 100
Entry = TypeVar("Entry")
Checked = TypeVar("Checked")
Result = TypeVar("Result")


async def answer_all(
    caller: Caller,
    entries: Sequence[Entry],
    check: Callable[[Entry], Checked | None],
    run_many: Callable[[list[Checked]], Awaitable[list[Any]]],
    run_one: Callable[[Entry], Awaitable[Any]],
) -> list[Any]:
    """One answer per entry: its result, or the domain error its single call would raise, its
    fields named `entries[i].<field>`.

    `check` validates an entry (raising its InvalidArgument) and returns what `run_many` takes,
    or None for an entry that must go alone through `run_one` (one with an idempotency key of
    its own, say). The checked entries run together in one store round trip. A store outage fails
    the whole call (UNAVAILABLE, which the caller's channel retries; every entry is idempotent),
    as does anything unexpected: no entry is answered half known.
    """
    caller.require_service()
    if not 1 <= len(entries) <= MAX_ENTRIES:
        raise InvalidArgument.field("entries", f"must hold 1 to {MAX_ENTRIES} entries")
    answers: list[Any] = [None] * len(entries)
    together: list[Checked] = []
    at: list[int] = []
    alone: list[int] = []
    for i, entry in enumerate(entries):
        try:
            checked = check(entry)
        except DomainError as error:
            answers[i] = _naming(error, i)
            continue
        if checked is None:
            alone.append(i)
        else:
            together.append(checked)
            at.append(i)
    outcomes = await settled(
        *([run_many(together)] if together else []), *(run_one(entries[i]) for i in alone)
    )
    many = outcomes.pop(0) if together else []
    if isinstance(many, BaseException):
        raise many
    for i, outcome in [*zip(at, many, strict=True), *zip(alone, outcomes, strict=True)]:
        answers[i] = _answer(outcome, i)
    return answers


def _answer(outcome: Any, index: int) -> Any:
    if not isinstance(outcome, BaseException):
        return outcome
    error = as_domain_error(outcome) if isinstance(outcome, Exception) else None
    if error is None or isinstance(error, Unavailable):
        raise outcome
    return _naming(error, index)


def _naming(error: DomainError, index: int) -> DomainError:
    """`error` with its violations' fields under `entries[index]`."""
    error.violations = [
        replace(v, field=f"entries[{index}].{v.field}") if v.field else v for v in error.violations
    ]
    return error

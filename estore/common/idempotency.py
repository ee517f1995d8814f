"""Request-id deduplication in Redis (AIP-155), shared by the Redis-backed services.

A retry with the same id and the same request gets the first outcome (a response, or a final
error such as a declined card); the same id with another request is INVALID_ARGUMENT; while the
first call still runs, ABORTED (after waiting for it to finish up to `wait_seconds`, and never past
the caller's deadline). Transient failures (UNAVAILABLE, ABORTED) are forgotten, so a retry runs
the operation again. Outcomes are kept for `ttl_seconds` (at least 24 hours).

A running claim names its owner (one random id per Idempotency, so per process) and holds a short
lease that a task of the owner renews while the operation runs. When the owner dies, the lease
lapses within `lease_seconds` and the next retry takes the claim over; the claim token fences the
old owner, should it still be alive, from recording an outcome over the new one's.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from estore.common import context, errors
from estore.common.leases import kept_alive
from estore.common.redis import RedisClient

T = TypeVar("T")
log = logging.getLogger("estore.idempotency")
DAY_SECONDS = 24 * 3600
LEASE_SECONDS = 6.0
_LUA_DIR = Path(__file__).parent / "lua"
_TRANSIENT = (errors.Unavailable, errors.Aborted)
_ERRORS: dict[str, type[errors.DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.AlreadyExists,
        errors.FailedPrecondition,
        errors.PermissionDenied,
        errors.Unauthenticated,
    )
}


def fingerprint(*parts: object) -> str:
    """A stable hash of what makes two requests "the same"."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _encode_error(error: errors.DomainError) -> str | None:
    for cls in type(error).__mro__:
        if cls.__name__ in _ERRORS and _ERRORS[cls.__name__] is cls:
            return json.dumps(
                {
                    "error": cls.__name__,
                    "message": error.message,
                    "reason": error.reason,
                    "metadata": error.metadata,
                    "violations": [[v.field, v.description] for v in error.violations],
                }
            )
    return None


def _decode(stored: str | bytes, decode: Callable[[Any], T]) -> T:
    outcome = json.loads(stored)
    if "error" in outcome:
        cls = _ERRORS[outcome["error"]]
        violations = [errors.FieldViolation(f, d) for f, d in outcome.get("violations", [])]
        raise cls(
            outcome["message"],
            reason=outcome["reason"],
            metadata=outcome["metadata"],
            violations=violations,
        )
    return decode(outcome["result"])


class Idempotency:
    """Runs an operation at most once per (scope, request id)."""

    def __init__(
        self,
        redis: RedisClient,
        key_prefix: str,
        *,
        ttl_seconds: int = DAY_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float | None = None,
        wait_seconds: float = 0.0,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._lease_ms = int(lease_seconds * 1000)
        # Three renewals per lease: one late or lost renewal does not let a live claim lapse.
        self._renew_every = lease_seconds / 3 if renew_seconds is None else renew_seconds
        self._wait = wait_seconds
        self.instance = secrets.token_hex(6)
        self._begin = redis.register_script((_LUA_DIR / "idempotency_begin.lua").read_text())
        self._renew = redis.register_script((_LUA_DIR / "idempotency_renew.lua").read_text())
        self._end = redis.register_script((_LUA_DIR / "idempotency_finish.lua").read_text())

    def key(self, scope: str, request_id: str) -> str:
        return f"{self._prefix}:{scope}:{request_id}"

    async def run(
        self,
        scope: str,
        request_id: str,
        request_fingerprint: str,
        operation: Callable[[], Awaitable[T]],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """The operation's outcome, computed once; without a request id it simply runs."""
        if not request_id:
            return await operation()
        key = self.key(scope, request_id)
        claim = secrets.token_hex(8)
        state, stored = await self._claim(key, request_fingerprint, claim)
        if state == "mismatch":
            raise errors.InvalidArgument(
                "request_id was already used for a different request",
                violations=[
                    errors.FieldViolation("request_id", "already used for another request")
                ],
                reason="REQUEST_ID_REUSED",
            )
        if state == "running":
            raise errors.Aborted(
                "a request with this request_id is still running", reason="REQUEST_IN_PROGRESS"
            )
        if state == "done":
            return _decode(stored, decode)
        if state == "taken":
            log.info("took over %s from instance %s, whose lease lapsed", key, stored.decode())
        try:
            renew = functools.partial(self._renew_claim, key, claim)
            async with kept_alive(renew, self._renew_every, f"claim {key}"):
                result = await operation()
        except errors.DomainError as error:
            outcome = None if isinstance(error, _TRANSIENT) else _encode_error(error)
            await self._finish(key, claim, outcome)
            raise
        except BaseException:
            await self._finish(key, claim, None)
            raise
        await self._finish(key, claim, json.dumps({"result": encode(result)}))
        return result

    def _wait_budget(self) -> float:
        """How long a duplicate may wait: `wait_seconds`, cut short by the caller's deadline."""
        remaining = context.time_remaining()
        if remaining is None:
            return self._wait
        # Answer ABORTED a little before the deadline, so the caller hears why.
        return min(self._wait, max(0.0, remaining - min(1.0, remaining / 10)))

    async def _claim(self, key: str, request_fingerprint: str, claim: str) -> tuple[str, bytes]:
        """Claim the id; a duplicate waits for the first to finish, or for its lease to lapse."""
        budget = self._wait_budget()
        loop = asyncio.get_running_loop()
        until, pause = loop.time() + budget, 0.02
        args: list[str | int] = [
            request_fingerprint,
            self._lease_ms,
            claim,
            self.instance,
            self._ttl,
        ]
        while True:
            state, *rest = await self._begin(keys=[key], args=args)
            state = state.decode() if isinstance(state, bytes) else state
            left = until - loop.time()
            if state != "running" or left <= 0:
                return state, (rest[0] if rest else b"")
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    async def _renew_claim(self, key: str, claim: str) -> bool:
        return bool(await self._renew(keys=[key], args=[claim, self._lease_ms]))

    async def _finish(self, key: str, claim: str, outcome: str | None) -> None:
        """Record the outcome (None: forget the claim so a retry runs again), if still ours."""
        await self._end(keys=[key], args=[claim, outcome or "", self._ttl])

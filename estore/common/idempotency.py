"""Request-id deduplication in Redis (AIP-155), shared by the Redis-backed services.

A retry with the same id and the same request gets the first outcome (a response, or a final
error such as a declined card); the same id with another request is INVALID_ARGUMENT; while the
first call still runs, ABORTED (after waiting up to `wait_seconds` for it to finish). Transient
failures (UNAVAILABLE, ABORTED) are forgotten, so a retry runs the operation again. Outcomes are
kept for `ttl_seconds` (at least 24 hours).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis

from estore.common import errors

T = TypeVar("T")
DAY_SECONDS = 24 * 3600
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
            violations = getattr(error, "violations", [])
            return json.dumps(
                {
                    "error": cls.__name__,
                    "message": error.message,
                    "reason": error.reason,
                    "metadata": error.metadata,
                    "violations": [[v.field, v.description] for v in violations],
                }
            )
    return None


def _decode(stored: str | bytes, decode: Callable[[Any], T]) -> T:
    outcome = json.loads(stored)
    if "error" in outcome:
        cls = _ERRORS[outcome["error"]]
        details = {"reason": outcome["reason"], "metadata": outcome["metadata"]}
        if cls is errors.InvalidArgument:
            violations = [errors.FieldViolation(f, d) for f, d in outcome.get("violations", [])]
            raise errors.InvalidArgument(outcome["message"], violations=violations, **details)
        raise cls(outcome["message"], **details)
    return decode(outcome["result"])


class Idempotency:
    """Runs an operation at most once per (scope, request id)."""

    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        *,
        ttl_seconds: int = DAY_SECONDS,
        lease_seconds: int = 120,
        wait_seconds: float = 0.0,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._lease_ms = lease_seconds * 1000
        self._wait = wait_seconds
        self._begin = redis.register_script((_LUA_DIR / "idempotency_begin.lua").read_text())
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
        try:
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

    async def _claim(self, key: str, request_fingerprint: str, claim: str) -> tuple[str, bytes]:
        """Claim the id; a duplicate waits up to `wait_seconds` for the first to finish."""
        waited, pause = 0.0, 0.02
        while True:
            state, *rest = await self._begin(
                keys=[key], args=[request_fingerprint, self._lease_ms, claim]
            )
            state = state.decode() if isinstance(state, bytes) else state
            if state != "running" or waited >= self._wait:
                return state, (rest[0] if rest else b"")
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.25)

    async def _finish(self, key: str, claim: str, outcome: str | None) -> None:
        """Record the outcome (None: forget the claim so a retry runs again), if still ours."""
        await self._end(keys=[key], args=[claim, outcome or "", self._ttl])

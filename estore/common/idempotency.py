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

`run_reading` folds an operation's first reads (whole hashes, key existence) into the claim's
script, and hands the operation its Claim: an operation whose last step is a script of its
own may record the outcome there (Claim.outcome_args), sparing the finishing round trip.

A record is one string (Claim.record), so that the claim script claims a new id with one SET NX
EX (a hash took HMGET, HSET and EXPIRE). The script, not a pipeline of the SET and the reads,
because a redis-py pipeline costs ~100 us more client CPU than one EVALSHA, for one command less.
Records of the format before (hashes) are still read for as long as they live (25 hours at
most): a retry gets their outcome, and a lapsed one is taken over and rewritten as a string.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from estore.common import context, errors
from estore.common.leases import kept_alive
from estore.common.redis import RedisClient

T = TypeVar("T")
log = logging.getLogger("estore.idempotency")
DAY_SECONDS = 24 * 3600
LEASE_SECONDS = 6.0
# A record lives its keep time plus this margin from its claim and from each renewal, so the
# outcome, recorded without an EXPIRE of its own, is still kept the whole keep time.
KEEP_MARGIN_SECONDS = 3600
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


@dataclass
class Claim:
    """This call's claim on a request id, for an operation that records its own outcome."""

    key: str
    token: str
    ttl_seconds: int
    fingerprint: str = ""
    owner: str = ""
    recorded: bool = False  # set by the operation once its script recorded the outcome

    def outcome_args(self, encoded: Any) -> list[str | int]:
        """What a script needs to record `encoded` as the outcome, if the claim is still ours:
        the claim token, the stored response, and the whole record that keeps it (written
        with SET ... KEEPTTL GET: the record already lives long enough, see
        KEEP_MARGIN_SECONDS; the script puts the record back if the claim is no longer ours)."""
        response = json.dumps({"result": encoded})
        return [self.token, response, self.record("done", response)]

    def record(self, state: str, response: str = "", lease_until: int | str = "") -> str:
        """The request id's record, as idempotency_begin.lua reads it: one string."""
        return f"{state}|{self.fingerprint}|{self.token}|{self.owner}|{lease_until}|{response}"


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
        key_prefix: str | Callable[[str], str],
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
        """The request id's record; a callable prefix places it by scope (e.g. in its user's
        slot, so that the operation's own scripts may record the outcome)."""
        prefix = self._prefix if isinstance(self._prefix, str) else self._prefix(scope)
        return f"{prefix}:{scope}:{request_id}"

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
        return await self.run_reading(
            scope,
            request_id,
            request_fingerprint,
            lambda claim, reads: operation(),
            encode,
            decode,
        )

    async def run_reading(
        self,
        scope: str,
        request_id: str,
        request_fingerprint: str,
        operation: Callable[[Claim | None, list[Any]], Awaitable[T]],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        *,
        hashes: Sequence[str] = (),
        exists: Sequence[str] = (),
    ) -> T:
        """As `run`, handing the operation its Claim (None without a request id) and the reads
        it asked for: each of `hashes` whole (a dict, empty if missing), then whether each of
        `exists` exists, read in the claim's own round trip."""
        if not request_id:
            return await operation(None, await self._read(hashes, exists))
        key = self.key(scope, request_id)
        claim = Claim(key, secrets.token_hex(8), self._ttl, request_fingerprint, self.instance)
        state, stored, reads = await self._claim(
            key, request_fingerprint, claim.token, hashes, exists
        )
        if state not in ("new", "taken"):
            return _answered(state, stored, decode)
        if state == "taken":
            log.info("took over %s from instance %s, whose lease lapsed", key, stored.decode())
        try:
            renew = functools.partial(self._renew_claim, key, claim.token)
            async with kept_alive(renew, self._renew_every, f"claim {key}"):
                result = await operation(claim, _replies(reads, len(hashes)))
        except errors.DomainError as error:
            outcome = None if isinstance(error, _TRANSIENT) else _encode_error(error)
            if not claim.recorded:
                await self._finish(key, claim.token, outcome)
            raise
        except BaseException:
            if not claim.recorded:
                await self._finish(key, claim.token, None)
            raise
        if not claim.recorded:
            await self._finish(key, claim.token, json.dumps({"result": encode(result)}))
        return result

    async def _read(self, hashes: Sequence[str], exists: Sequence[str]) -> list[Any]:
        """The reads of `run_reading` without a claim: one pipeline, or nothing to send."""
        if not hashes and not exists:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in hashes:
                pipe.hgetall(key)
            for key in exists:
                pipe.exists(key)
            replies = await pipe.execute()
        return [dict(r) for r in replies[: len(hashes)]] + [bool(r) for r in replies[len(hashes) :]]

    def _wait_budget(self) -> float:
        """How long a duplicate may wait: `wait_seconds`, cut short by the caller's deadline."""
        remaining = context.time_remaining()
        if remaining is None:
            return self._wait
        # Answer ABORTED a little before the deadline, so the caller hears why.
        return min(self._wait, max(0.0, remaining - min(1.0, remaining / 10)))

    async def _claim(
        self,
        key: str,
        request_fingerprint: str,
        claim: str,
        hashes: Sequence[str] = (),
        exists: Sequence[str] = (),
    ) -> tuple[str, bytes, list[Any]]:
        """Claim the id; a duplicate waits for the first to finish, or for its lease to lapse."""
        budget = self._wait_budget()
        loop = asyncio.get_running_loop()
        until, pause = loop.time() + budget, 0.02
        keys = [key, *hashes, *exists]
        while True:
            args: list[str | int] = [
                request_fingerprint,
                self._lease_ms,
                claim,
                self.instance,
                self._ttl + KEEP_MARGIN_SECONDS,
                len(hashes),
                _now_ms(),
            ]
            state, *rest = await self._begin(keys=keys, args=args)
            state = state.decode() if isinstance(state, bytes) else state
            left = until - loop.time()
            if state != "running" or left <= 0:
                return state, (rest[0] if rest else b""), rest[1:]
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    async def _renew_claim(self, key: str, claim: str) -> bool:
        args: list[str | int] = [claim, self._lease_ms, _now_ms(), self._ttl + KEEP_MARGIN_SECONDS]
        return bool(await self._renew(keys=[key], args=args))

    async def _finish(self, key: str, claim: str, outcome: str | None) -> None:
        """Record the outcome (None: forget the claim so a retry runs again), if still ours."""
        await self._end(keys=[key], args=[claim, outcome or ""])


def _now_ms() -> int:
    """This process's clock in ms: leases are compared on the claimants' clocks, which differ
    by far less than a lease."""
    return int(time.time() * 1000)


def _answered(state: str, stored: bytes, decode: Callable[[Any], T]) -> T:
    """What an earlier claim on the id makes of this call: its outcome, or why not."""
    if state == "done":
        return _decode(stored, decode)
    if state == "running":
        raise errors.Aborted(
            "a request with this request_id is still running", reason="REQUEST_IN_PROGRESS"
        )
    raise errors.InvalidArgument(
        "request_id was already used for a different request",
        violations=[errors.FieldViolation("request_id", "already used for another request")],
        reason="REQUEST_ID_REUSED",
    )


def _replies(reads: list[Any], hashes: int) -> list[Any]:
    """The claim script's reads as `run_reading` hands them on: dicts, then booleans."""
    pairs = [reply if isinstance(reply, dict) else _pairs(reply) for reply in reads[:hashes]]
    return pairs + [bool(reply) for reply in reads[hashes:]]


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """A hash from a script's HGETALL reply (field, value, field, value, ...)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))

"""Tokens whose signature and claims were already checked, kept until they expire."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from estore.common.auth import Caller

# Enough for every token signed in at once on a busy instance; beyond it the oldest go first.
DEFAULT_MAX_TOKENS = 10_000


@dataclass(frozen=True)
class VerifiedClaims:
    """What a verified token says, as the verifier reads it on every call."""

    is_service: bool
    user_id: int | None
    generation: int
    session_id: str
    is_admin: bool
    is_verified: bool
    valid_until: float  # epoch seconds: `exp` plus the clock skew allowed
    # The caller these claims stand for while nothing revokes them, made once per token rather
    # than on every call (None: made when asked).
    caller: Caller | None = None


class TokenCache:
    """A bounded map of token -> verified claims; a token past its `exp` is never served."""

    # Only claims are kept: revocations and the admin fail-closed check are applied to them on
    # every call, exactly as to a freshly decoded token.

    def __init__(
        self, max_tokens: int = DEFAULT_MAX_TOKENS, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_tokens = max_tokens
        self._clock = clock
        self._claims: dict[str, VerifiedClaims] = {}

    def get(self, token: str) -> VerifiedClaims | None:
        """The claims of a token verified before and not yet expired, else None."""
        found = self._claims.get(token)
        if found is None:
            return None
        if self._clock() >= found.valid_until:
            del self._claims[token]
            return None
        return found

    def put(self, token: str, claims: VerifiedClaims) -> None:
        """Remember a verified token (dropping the oldest entries when full)."""
        if self._clock() >= claims.valid_until:
            return
        while len(self._claims) >= self._max_tokens:
            del self._claims[next(iter(self._claims))]
        self._claims[token] = claims

    def __len__(self) -> int:
        return len(self._claims)

"""Revoked tokens as this process knows them, and how recently it learnt them from UserService."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from estore.common.metrics import Sample


@dataclass(frozen=True)
class Revocation:
    """One entry of UserService's revocation feed: a user's older tokens, or one session's."""

    id: int  # position in the feed; later revocations have higher ids
    user_id: int
    expires_at: float  # epoch seconds; no token it revokes can still be valid after it
    below_generation: int = 0  # > 0: the user's tokens of a lower generation are revoked
    session_id: str = ""  # not empty: the access tokens of this sign-in session are revoked


class RevocationList:
    """In memory: per-user generation watermarks and revoked sessions, until they expire."""

    def __init__(
        self,
        *,
        max_staleness_seconds: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_staleness = max_staleness_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._below: dict[int, tuple[int, float]] = {}  # user id -> (generation, expires at)
        self._sessions: dict[str, float] = {}  # session id -> expires at
        self._read_at: float | None = None  # monotonic start of the last complete read
        self.cursor = 0  # the highest feed id applied

    def revokes(self, user_id: int, generation: int, session_id: str) -> bool:
        """Whether a token of this user, generation and session is revoked."""
        below = self._below.get(user_id)
        if below is not None and generation < below[0]:
            return True
        return bool(session_id) and session_id in self._sessions

    def apply(self, revocations: Iterable[Revocation]) -> None:
        """Take in feed entries (in feed order)."""
        for revocation in revocations:
            self.cursor = max(self.cursor, revocation.id)
            if revocation.session_id:
                self._sessions[revocation.session_id] = revocation.expires_at
            if revocation.below_generation > 0:
                known = self._below.get(revocation.user_id, (0, 0.0))
                self._below[revocation.user_id] = (
                    max(known[0], revocation.below_generation),
                    max(known[1], revocation.expires_at),
                )

    def confirm(self, read_started_at: float) -> None:
        """Everything committed before `read_started_at` (monotonic) has been applied."""
        self._read_at = max(read_started_at, self._read_at or read_started_at)
        now = self._clock()
        self._below = {user: entry for user, entry in self._below.items() if entry[1] > now}
        self._sessions = {sid: until for sid, until in self._sessions.items() if until > now}

    def age(self) -> float | None:
        """Seconds since the last complete read began; None before the first one."""
        return None if self._read_at is None else self._monotonic() - self._read_at

    def current(self) -> bool:
        """Whether revocations were read lately enough to vouch for admin powers."""
        age = self.age()
        return age is not None and age <= self._max_staleness

    def samples(self) -> list[Sample]:
        """Gauges: how old this knowledge is, and how many revocations it holds."""
        age = self.age()
        return [
            Sample(
                "estore_revocations_age_seconds",
                "Seconds since revocations were last read in full from UserService (-1: never)",
                -1.0 if age is None else age,
            ),
            Sample(
                "estore_revocations_known",
                "Revocations held in memory, by kind",
                len(self._below),
                {"kind": "user"},
            ),
            Sample(
                "estore_revocations_known",
                "Revocations held in memory, by kind",
                len(self._sessions),
                {"kind": "session"},
            ),
        ]

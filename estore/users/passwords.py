"""bcrypt hashing off the event loop, at most one hash per core at a time."""

from __future__ import annotations

import asyncio
import os
import secrets

import bcrypt

from estore.users.validation import MAX_PASSWORD_BYTES


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed stored hash matches nothing
        return False


class PasswordHasher:
    """Hashes and checks passwords in worker threads, at most `max_parallel` (cores) at once."""

    # The bound keeps a burst of sign-ins from filling the default executor, which
    # asyncio.to_thread shares with everything else, with CPU-bound bcrypt work.

    def __init__(self, rounds: int, *, max_parallel: int | None = None) -> None:
        self._rounds = rounds
        self._slots = asyncio.Semaphore(max_parallel or os.cpu_count() or 1)
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        """The bcrypt hash of a password already checked to be at most 72 bytes."""
        salt = bcrypt.gensalt(self._rounds)
        async with self._slots:
            hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed` (None: no such account); never raises."""
        # Unknown accounts and over-long passwords still cost one full bcrypt check, so that
        # their answer takes as long as a wrong password's.
        target = hashed.encode() if hashed is not None else await self._dummy()
        candidate = password.encode()
        fits = len(candidate) <= MAX_PASSWORD_BYTES
        async with self._slots:
            matches = await asyncio.to_thread(_check, candidate[:MAX_PASSWORD_BYTES], target)
        return matches and fits and hashed is not None

    def needs_rehash(self, hashed: str) -> bool:
        """Whether a stored hash was made at another cost than this hasher's (or is not bcrypt)."""
        # bcrypt hashes read "$2b$<two-digit cost>$<salt and checksum>".
        parts = hashed.split("$")
        return len(parts) != 4 or not parts[2].isdigit() or int(parts[2]) != self._rounds

    async def prepare(self) -> None:
        """Make the dummy hash now, so the first unknown email is not slower than the rest."""
        await self._dummy()

    async def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash(secrets.token_urlsafe(24))).encode()
        return self._dummy_hash

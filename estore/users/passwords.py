"""bcrypt hashing off the event loop: one low-priority thread per core this process may use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

from estore.users.validation import MAX_PASSWORD_BYTES

T = TypeVar("T")
# How much lower than the service's own threads the hashing threads run (nice 0..19): the event
# loop, which answers every other RPC, goes first whenever it has work.
HASHING_NICENESS = 10


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _lower_priority() -> None:
    """Runs in each hashing thread: on Linux, a thread's niceness and policy are its own."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    # Niceness alone was not enough: under Login load, GetProduct's and GetCurrentUser's p99
    # still rose by 5 to 8 ms on the shared bench core; SCHED_IDLE threads give way at once.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed stored hash matches nothing
        return False


class PasswordHasher:
    """Hashes and checks passwords in `max_parallel` (usable cores) threads of its own."""

    # bcrypt releases the GIL, so one thread per core reaches the machine's bcrypt ceiling.
    # Threads of its own keep a burst of sign-ins out of the default executor that
    # asyncio.to_thread shares with everything else; their lower priority keeps the event
    # loop, and so every other RPC, responsive while sign-ins take every core.

    def __init__(self, rounds: int, *, max_parallel: int | None = None) -> None:
        self._rounds = rounds
        # Threads start on first use, so a hasher that never hashes costs nothing.
        self._threads = ThreadPoolExecutor(
            max_parallel or usable_cores(), "bcrypt", initializer=_lower_priority
        )
        self._dummy_hash: bytes | None = None

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def hash(self, password: str) -> str:
        """The bcrypt hash of a password already checked to be at most 72 bytes."""
        salt = bcrypt.gensalt(self._rounds)
        hashed = await self._run(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed` (None: no such account); never raises."""
        # Unknown accounts and over-long passwords still cost one full bcrypt check, so that
        # their answer takes as long as a wrong password's.
        target = hashed.encode() if hashed is not None else await self._dummy()
        candidate = password.encode()
        fits = len(candidate) <= MAX_PASSWORD_BYTES
        matches = await self._run(_check, candidate[:MAX_PASSWORD_BYTES], target)
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

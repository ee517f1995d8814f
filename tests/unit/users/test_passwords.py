"""PasswordHasher: bcrypt in low-priority threads, bounded, and never crashing on odd input."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import bcrypt
import pytest

from estore.users import passwords
from estore.users.passwords import HASHING_NICENESS, PasswordHasher


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(4)
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$2b$04$")
    assert await hasher.verify("correct horse", hashed)
    assert not await hasher.verify("wrong horse", hashed)


async def test_a_password_longer_than_72_bytes_never_matches_nor_raises() -> None:
    hasher = PasswordHasher(4)
    hashed = await hasher.hash("x" * 72)
    # bcrypt would see only the first 72 bytes, which match; bcrypt 5 raises instead.
    assert not await hasher.verify("x" * 73, hashed)
    assert not await hasher.verify("😀" * 20, hashed)


async def test_unknown_accounts_and_bad_hashes_still_cost_one_bcrypt_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = PasswordHasher(4)
    await hasher.prepare()
    checks: list[bytes] = []
    real_check = passwords._check

    def counting_check(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real_check(password, hashed)

    monkeypatch.setattr(passwords, "_check", counting_check)
    assert not await hasher.verify("anything at all", None)
    assert not await hasher.verify("anything at all", "not a bcrypt hash")
    assert len(checks) == 2
    assert checks[0].startswith(b"$2b$04$")


async def test_at_most_max_parallel_hashes_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running = peak = 0
    lock = threading.Lock()

    def slow_check(password: bytes, hashed: bytes) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return True

    monkeypatch.setattr(passwords, "_check", slow_check)
    hasher = PasswordHasher(4, max_parallel=2)
    results = await asyncio.gather(*(hasher.verify("password", "$2b$04$x") for _ in range(8)))
    assert all(results)
    assert peak == 2


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_checks_run_in_threads_below_the_event_loops_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, int]] = []

    def checkpw(password: bytes, hashed: bytes) -> bool:
        seen.append((threading.current_thread().name, _niceness()))
        return True

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    assert await PasswordHasher(4).verify("a password", "$2b$04$" + "x" * 53)
    ((thread, niceness),) = seen
    assert thread.startswith("bcrypt")
    assert niceness >= min(19, _niceness() + HASHING_NICENESS)


def test_one_hashing_thread_per_usable_core() -> None:
    assert passwords.usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
async def test_checks_run_in_threads_the_event_loop_preempts_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policies: list[int] = []

    def checkpw(password: bytes, hashed: bytes) -> bool:
        policies.append(os.sched_getscheduler(threading.get_native_id()))
        return True

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    assert await PasswordHasher(4).verify("a password", "$2b$04$" + "x" * 53)
    assert policies == [os.SCHED_IDLE]
    assert os.sched_getscheduler(threading.get_native_id()) != os.SCHED_IDLE  # the loop's own

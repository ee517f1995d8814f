"""The supervisor behind `estore up` and `--workers`: restarts, giving up, stopping."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from estore.supervise import Report, RestartPolicy, StartFailed, Supervisor

FAST = RestartPolicy(
    stable_seconds=30, first_delay=0.01, max_delay=0.05, max_quick_deaths=3, stop_timeout=10
)


def serve_until_terminated(starts: str, report: Report) -> None:
    """A child that counts its starts in a file, reports, and serves until SIGTERM."""
    with Path(starts).open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    report({"port": 1, "metrics_port": 2})
    signal.sigwait({signal.SIGTERM})


def crash_after_reporting(starts: str, report: Report) -> None:
    """A child that serves for a moment and then dies: each start of a broken deployment."""
    with Path(starts).open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    report({"port": 1, "metrics_port": 2})
    sys.exit(3)


def crash_before_reporting(report: Report) -> None:
    sys.exit(4)


def _starts(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _stop_once_started_twice(starts: Path) -> None:
    deadline = time.monotonic() + 60
    while len(_starts(starts)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)  # what the parent receives on a stop


def test_a_killed_child_is_restarted_and_a_stop_signal_stops_it(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    messages: list[str] = []
    supervisor = Supervisor(messages.append, FAST)
    with supervisor.running():
        [child] = supervisor.start([("worker", serve_until_terminated, (str(starts),))])
        assert child.ready == {"port": 1, "metrics_port": 2}
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        stopper = threading.Thread(target=_stop_once_started_twice, args=(starts,))
        stopper.start()
        supervisor.run()  # until the SIGTERM
        stopper.join()
        assert supervisor.stop_requested
        assert not supervisor.gave_up
        assert _starts(starts) == [first, child.pid]
        assert supervisor.stop_all() == [0]  # the restarted child drained and exited 0
    assert messages[0] == f"worker (pid {first}) exited (killed by SIGKILL); restarting in 0.01 s"
    assert f"worker restarted (pid {child.pid})" in messages


def test_a_child_that_keeps_dying_soon_after_it_starts_makes_it_give_up(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    messages: list[str] = []
    supervisor = Supervisor(messages.append, FAST)
    with supervisor.running():
        supervisor.start([("worker", crash_after_reporting, (str(starts),))])
        supervisor.run()  # returns by itself: nobody asked it to stop
    assert supervisor.gave_up
    assert len(_starts(starts)) == FAST.max_quick_deaths
    assert "3 times in a row soon after starting; giving up" in messages[-1]


def test_a_child_that_cannot_start_fails_the_start_with_its_exit_code() -> None:
    supervisor = Supervisor(lambda message: None, FAST)
    with supervisor.running(), pytest.raises(StartFailed, match="exit code 4"):
        supervisor.start([("worker", crash_before_reporting, ())])


def test_backoff_doubles_with_each_quick_death_up_to_its_cap() -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=10)
    assert [policy.delay(n) for n in range(7)] == [0.5, 0.5, 1, 2, 4, 8, 10]

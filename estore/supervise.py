"""Child processes that serve, watched by a parent that restarts them when they die.

`estore up` runs each service in a child of its own and `estore serve --workers N` runs N
children on one port; both use a Supervisor. A child reports when it serves (its bound ports);
one that dies later is restarted with backoff, and one that keeps dying soon after its start
makes the supervisor give up. SIGTERM, SIGINT or SIGHUP to the parent stops every child gently.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

log = logging.getLogger("estore.supervise")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
Ready = dict[str, int]  # what a child reports once it serves: its bound ports
Report = Callable[[Ready], None]
ChildMain = Callable[..., None]  # called as main(*args, report); a top-level function (pickled)


class StartFailed(RuntimeError):
    """A child died, or did not report serving in time, when it was first started."""


class StopRequested(Exception):
    """A stop signal arrived while the supervisor was waiting for a child to start."""


@dataclass(frozen=True)
class RestartPolicy:
    """How soon a dead child comes back, and when to stop trying."""

    stable_seconds: float = 10.0  # a child that served this long before dying starts afresh
    first_delay: float = 0.5  # then doubling with each quick death in a row ...
    max_delay: float = 10.0  # ... up to this
    max_quick_deaths: int = 5  # this many quick deaths in a row: give up
    start_timeout: float = 120.0  # from spawning to reporting serving
    stop_timeout: float = 30.0  # from SIGTERM to exit, then SIGKILL

    def delay(self, quick_deaths: int) -> float:
        """The wait before restarting a child that died `quick_deaths` times in a row."""
        if quick_deaths == 0:
            return self.first_delay
        return min(self.max_delay, self.first_delay * 2.0 ** (quick_deaths - 1))


@dataclass
class Child:
    """One supervised process: what it runs, and its life so far."""

    name: str
    main: ChildMain
    args: tuple[Any, ...]
    process: BaseProcess | None = None
    ready: Ready = field(default_factory=dict)
    served_since: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


def _child_entry(main: ChildMain, args: tuple[Any, ...], ready: Connection, parent: int) -> None:
    """Runs in the child: leave the parent's terminal, die with the parent, then serve."""
    os.setsid()  # Ctrl-C reaches the parent alone, which stops the children in order
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: a killed parent leaves the child serving
        pass
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return

    def report(info: Ready) -> None:
        ready.send(info)
        ready.close()

    main(*args, report)


class Supervisor:
    """Starts children, restarts the ones that die, and stops them all on a stop signal."""

    def __init__(
        self,
        say: Callable[[str], None],
        policy: RestartPolicy | None = None,
        *,
        stop_in_reverse: bool = False,
    ) -> None:
        self._say = say
        self.policy = policy or RestartPolicy()
        self._stop_in_reverse = stop_in_reverse  # callers stop before the services they call
        self.children: list[Child] = []
        self._context = multiprocessing.get_context("spawn")
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.stop_requested = False
        self.gave_up = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        with suppress(BlockingIOError):  # the pipe is full: a wake-up is pending anyway
            os.write(self._wake_write, b"\0")

    @contextmanager
    def running(self) -> Iterator[Supervisor]:
        """Catch stop signals while the block runs; every child is stopped when it ends."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield self
        finally:
            self.stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._wake_read)
            os.close(self._wake_write)

    def start(self, specs: Sequence[tuple[str, ChildMain, tuple[Any, ...]]]) -> list[Child]:
        """Start these children together and return once each serves; StartFailed if one can't."""
        started = [Child(name, main, args) for name, main, args in specs]
        self.children.extend(started)
        pipes = [self._spawn(child) for child in started]
        for child, pipe in zip(started, pipes, strict=True):
            self._await_ready(child, pipe)
        return started

    def _spawn(self, child: Child) -> Connection:
        receive, send = self._context.Pipe(duplex=False)
        child.process = self._context.Process(
            target=_child_entry,
            args=(child.main, child.args, send, os.getpid()),
            name=f"estore-{child.name}",
        )
        child.process.start()
        send.close()
        child.ready = {}
        child.restart_at = None
        return receive

    def _await_ready(self, child: Child, pipe: Connection) -> None:
        assert child.process is not None
        deadline = time.monotonic() + self.policy.start_timeout
        try:
            while not pipe.poll():
                if self.stop_requested:
                    raise StopRequested
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StartFailed(f"{child.name} did not start serving in time")
                wait([pipe, child.process.sentinel, self._wake_read], remaining)
                self._drain_wake()
                if not child.process.is_alive() and not pipe.poll():
                    code = _describe(child.process.exitcode)
                    raise StartFailed(f"{child.name} exited while starting ({code})")
            child.ready = pipe.recv()
        except EOFError:  # it closed the pipe without a word: it is dying
            child.process.join(timeout=self.policy.stop_timeout)
            code = _describe(child.process.exitcode)
            raise StartFailed(f"{child.name} exited while starting ({code})") from None
        finally:
            pipe.close()
        child.served_since = time.monotonic()

    def _drain_wake(self) -> None:
        with suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass

    def run(self) -> None:
        """Watch the children until a stop signal, or until one keeps dying (`gave_up`)."""
        while not self.stop_requested and not self.gave_up:
            alive = [
                c.process.sentinel for c in self.children if c.process and c.restart_at is None
            ]
            due = [c.restart_at for c in self.children if c.restart_at is not None]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            wait([self._wake_read, *alive], timeout)
            self._drain_wake()
            if self.stop_requested:
                return
            for child in self.children:
                self._check(child)

    def _check(self, child: Child) -> None:
        process = child.process
        assert process is not None
        if child.restart_at is None and not process.is_alive():
            self._schedule_restart(child, process.exitcode)
        elif child.restart_at is not None and time.monotonic() >= child.restart_at:
            self._restart(child)

    def _schedule_restart(self, child: Child, exitcode: int | None) -> None:
        lived = time.monotonic() - child.served_since
        child.quick_deaths = child.quick_deaths + 1 if lived < self.policy.stable_seconds else 0
        if child.quick_deaths >= self.policy.max_quick_deaths:
            self._say(
                f"{child.name} (pid {child.pid}) exited ({_describe(exitcode)}) "
                f"{child.quick_deaths} times in a row soon after starting; giving up"
            )
            self.gave_up = True
            return
        delay = self.policy.delay(child.quick_deaths)
        self._say(
            f"{child.name} (pid {child.pid}) exited ({_describe(exitcode)}); "
            f"restarting in {delay:g} s"
        )
        child.restart_at = time.monotonic() + delay

    def _restart(self, child: Child) -> None:
        pipe = self._spawn(child)
        try:
            self._await_ready(child, pipe)
        except StartFailed as failure:
            self._say(str(failure))
            child.served_since = time.monotonic()  # it never served: a quick death
            process = child.process
            assert process is not None
            process.join(timeout=self.policy.stop_timeout)
            self._schedule_restart(child, process.exitcode)
            return
        except StopRequested:
            return
        self._say(f"{child.name} restarted (pid {child.pid})")

    def stop_all(self) -> list[int | None]:
        """SIGTERM every live child (callers first when asked), wait, SIGKILL stragglers.

        Returns the exit codes of the children that were still running.
        """
        order = list(reversed(self.children)) if self._stop_in_reverse else list(self.children)
        live = [c for c in order if c.process is not None and c.process.is_alive()]
        if self._stop_in_reverse:
            for child in live:
                self._stop([child])
        else:
            self._stop(live)
        return [child.process.exitcode for child in live if child.process is not None]

    def _stop(self, children: Sequence[Child]) -> None:
        for child in children:
            if child.pid is not None:
                _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_timeout
        for child in children:
            assert child.process is not None
            child.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                self._say(f"{child.name} (pid {child.pid}) did not stop in time; killing it")
                child.process.kill()
                child.process.join()


def _signal(pid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"

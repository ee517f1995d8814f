"""The load client: closed loops of pre-serialized gRPC calls, run in processes of their own.

A Python client costs about as much per call as a Python server, so it does as little as it
can: requests are serialized once (only a fresh request id is appended per call), responses stay
bytes, calls go through generic multicallables on several channels, and the client measures its
own CPU so a reader can tell whether it, rather than the server, set the pace.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc

CHANNELS_PER_TARGET = 4
CALL_TIMEOUT_SECONDS = 30.0
Window = tuple[float, float]  # time.monotonic() when measuring starts, and when it ends


@dataclass(frozen=True)
class Call:
    """One kind of request: where it goes, its bytes, its metadata, how often it is picked."""

    label: str  # e.g. GetProduct
    target: str  # host:port
    method: str  # /package.Service/Method
    request: bytes  # the serialized request message
    metadata: tuple[tuple[str, str], ...] = ()
    weight: int = 1
    unique_field: int = 0  # a string field (by number) given a fresh value per call: request ids


@dataclass(frozen=True)
class Stream:
    """Calls kept `concurrency` in flight at all times (a closed loop), picked by weight."""

    name: str
    calls: tuple[Call, ...]
    concurrency: int
    per_loop: bool = False  # loop n always sends calls[n % len(calls)]: an account per loop
    pause: float = 0.0  # seconds a loop waits after each answer (a paced caller), 0: flat out


def loops_of(concurrency: int, index: int, processes: int) -> range:
    """The loop numbers (0 to `concurrency` - 1) that client process `index` runs."""
    return range(index, concurrency, processes)


@dataclass
class Tally:
    """What one stream's calls of one label did inside the measuring window."""

    latencies: list[float] = field(default_factory=list)  # seconds, one per call answered OK
    codes: Counter[str] = field(default_factory=Counter)  # status code name -> calls

    def merge(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        self.codes.update(other.codes)


@dataclass
class ClientReport:
    """One client process's tallies, by stream then label, and its CPU inside the window."""

    tallies: dict[str, dict[str, Tally]]
    cpu_seconds: float


def _field_bytes(number: int, value: str) -> bytes:
    """A protobuf length-delimited field; appended to a message it sets that field (last wins)."""
    encoded = value.encode()
    return _varint(number << 3 | 2) + _varint(len(encoded)) + encoded


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Loop:
    """The closed loops of one process: shared channels, its window, its tallies."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.window_start, self.window_end = window
        self.channels: dict[str, list[grpc.aio.Channel]] = {}
        self.tallies: dict[str, dict[str, Tally]] = {}
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}-{os.getpid()}-"
        self.counter = 0

    async def channel(self, target: str, index: int) -> grpc.aio.Channel:
        if target not in self.channels:
            options = [("grpc.use_local_subchannel_pool", 1)]  # a connection per channel
            channels = [
                grpc.aio.insecure_channel(target, options=options)
                for _ in range(CHANNELS_PER_TARGET)
            ]
            self.channels[target] = channels
            for channel in channels:
                await channel.channel_ready()
        return self.channels[target][index % CHANNELS_PER_TARGET]

    async def run(self, stream: Stream, number: int) -> None:
        """Loop `number`: call, wait for the answer, call again, until the window closes."""
        rng = random.Random(f"{stream.name}-{number}")  # noqa: S311 - picks a call, guards nothing
        picks = range(len(stream.calls))
        cumulative = list(itertools.accumulate(call.weight for call in stream.calls))
        methods = [
            (await self.channel(call.target, number)).unary_unary(call.method)
            for call in stream.calls
        ]
        tallies = self.tallies.setdefault(stream.name, {})
        fixed = number % len(picks) if stream.per_loop or len(picks) == 1 else None
        while time.monotonic() < self.window_end:
            [choice] = [fixed] if fixed is not None else rng.choices(picks, cum_weights=cumulative)
            call = stream.calls[choice]
            request = call.request
            if call.unique_field:
                self.counter += 1
                request += _field_bytes(call.unique_field, f"{self.prefix}{self.counter}")
            started = time.monotonic()
            try:
                await methods[choice](request, metadata=call.metadata, timeout=CALL_TIMEOUT_SECONDS)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            finished = time.monotonic()
            if self.window_start <= finished <= self.window_end:
                tally = tallies.setdefault(call.label, Tally())
                tally.codes[code] += 1
                if code == "OK":
                    tally.latencies.append(finished - started)
            if stream.pause:
                await asyncio.sleep(stream.pause)

    async def close(self) -> None:
        for channels in self.channels.values():
            for channel in channels:
                await channel.close()


async def _cpu_in_window(window: tuple[float, float]) -> float:
    await asyncio.sleep(max(0.0, window[0] - time.monotonic()))
    before = time.process_time()
    await asyncio.sleep(max(0.0, window[1] - time.monotonic()))
    return time.process_time() - before


async def _run(
    streams: tuple[Stream, ...],
    index: int,
    processes: int,
    start: float,
    window: tuple[float, float],
) -> ClientReport:
    loop = _Loop(window)
    for target in {call.target for stream in streams for call in stream.calls}:
        await loop.channel(target, 0)  # connected before the start
    loops = [
        loop.run(stream, number)
        for stream in streams
        for number in loops_of(stream.concurrency, index, processes)
    ]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu = asyncio.ensure_future(_cpu_in_window(window))
    try:
        await asyncio.gather(*loops)
        return ClientReport(loop.tallies, await cpu)
    finally:
        await loop.close()


def run_load(
    streams: tuple[Stream, ...],
    index: int,
    processes: int,
    start: float,
    window: tuple[float, float],
) -> ClientReport:
    """In a client process: run this process's share of `streams` from `start` to the window's end.

    Times are `time.monotonic()` values, which every process on the machine shares; only calls
    that complete inside `window` are tallied.
    """
    return asyncio.run(_run(streams, index, processes, start, window))


def warm_up() -> int:
    """A no-op that makes a client process import all of the above before the first scenario."""
    return os.getpid()

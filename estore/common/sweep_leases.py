"""Which buckets this instance sweeps and indexes: each range of buckets is leased to one live
instance (SET NX PX, renewed on a beat), and the ranges are shared out evenly among the live
instances. A dead instance's ranges are free again once their lease lapses, and taken at the
next renewal of another instance: within one lease and one beat."""

from __future__ import annotations

import logging
import secrets
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from estore.common.redis import RedisClient

log = logging.getLogger("estore.sweeps")
_LUA = Path(__file__).parent / "lua" / "sweep_leases.lua"


class BucketLeases:
    """This instance's leases on `ranges` of buckets, kept under `prefix` (one hash-tagged slot:
    one script sees every lease); `buckets()` renews them when a third of a lease passed."""

    def __init__(
        self,
        redis: RedisClient,
        lease_seconds: float,
        instance: str | None,
        *,
        prefix: str,
        ranges: Sequence[tuple[int, ...]],
    ) -> None:
        self.instance = instance or secrets.token_hex(6)
        self._lease_ms = int(lease_seconds * 1000)
        self._every = lease_seconds / 3  # one late renewal does not lose a lease
        self._ranges = list(ranges)
        self._keys = [
            f"{prefix}:sweepers",
            *(f"{prefix}:sweep-lease:{i}" for i in range(len(self._ranges))),
        ]
        self._start = zlib.crc32(self.instance.encode()) % len(self._ranges)
        self._script = redis.register_script(_LUA.read_text())
        self._held: list[int] = []
        self._renewed = float("-inf")

    @property
    def held_ranges(self) -> list[int]:
        """The indexes (in the ranges) of the ranges held at the last renewal."""
        return list(self._held)

    async def buckets(self) -> list[int]:
        """The buckets of the ranges held now, renewing the leases if they are due."""
        if time.monotonic() - self._renewed >= self._every:
            await self.renew()
        return [bucket for i in self._held for bucket in self._ranges[i]]

    async def renew(self) -> None:
        """Renew, give back or take leases to hold this instance's share."""
        now = int(time.time() * 1000)
        args: list[str | int] = [self.instance, self._lease_ms, self._start, "", now]
        held = await self._script(keys=self._keys, args=args)
        self._held = sorted(int(i) for i in held)
        self._renewed = time.monotonic()

    async def release(self) -> None:
        """Give every lease back (a clean stop): the others take them at their next renewal."""
        args: list[str | int] = [self.instance, self._lease_ms, self._start, "1", 0]
        await self._script(keys=self._keys, args=args)
        self._held = []
        self._renewed = float("-inf")

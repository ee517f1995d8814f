"""A burst beyond the configured number of calls in progress is refused, never UNKNOWN."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import grpc

from tests.grpc.users.conftest import serving, users_settings


async def test_a_burst_beyond_the_concurrency_limit_is_refused(
    users_database_url: str, tmp_path: Path, token_issuer, token_verifier
) -> None:
    # Two calls at a time; each Register holds its slot for a bcrypt hash (cost 10: ~70 ms).
    settings = users_settings(
        users_database_url, tmp_path, ESTORE_MAX_CONCURRENT_RPCS="2", ESTORE_BCRYPT_ROUNDS="10"
    )
    async with serving(settings, token_issuer, token_verifier) as users:

        async def register(email: str) -> grpc.StatusCode:
            try:
                await users.register(email)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        burst = [register(f"user{n}@example.com") for n in range(20)]
        codes = Counter(await asyncio.gather(*burst))
        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        # Once the burst is over, the service answers as before.
        assert await register("late@example.com") == grpc.StatusCode.OK

"""Seeding waits out a service that is serving but not yet ready for admin calls."""

from __future__ import annotations

import grpc
import pytest

from estore.bench.seed import once_serving


def _error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "retry shortly")


async def test_a_call_refused_unavailable_is_made_again_until_it_answers() -> None:
    attempts: list[int] = []

    async def create_category() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise _error(grpc.StatusCode.UNAVAILABLE)
        return "created"

    assert await once_serving(create_category, seconds=10) == "created"
    assert len(attempts) == 3


async def test_other_errors_and_a_service_unavailable_too_long_are_raised() -> None:
    async def refused() -> str:
        raise _error(grpc.StatusCode.PERMISSION_DENIED)

    async def down() -> str:
        raise _error(grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await once_serving(refused, seconds=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await once_serving(down, seconds=0)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

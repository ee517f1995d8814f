"""The services run on uvloop unless ESTORE_EVENT_LOOP says asyncio, and parse RESP in C."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from redis.asyncio import connection

from estore.common.config import ConfigError, Settings
from estore.serve import run_on_loop


def _loop_of(environ: dict[str, str]) -> asyncio.AbstractEventLoop:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())

    run_on_loop(Settings.from_env(environ), main())
    return loops[0]


def test_services_run_on_uvloop_by_default() -> None:
    assert isinstance(_loop_of({}), uvloop.Loop)


def test_plain_asyncio_stays_selectable() -> None:
    loop = _loop_of({"ESTORE_EVENT_LOOP": "asyncio"})
    assert not isinstance(loop, uvloop.Loop)


def test_an_unknown_event_loop_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ESTORE_EVENT_LOOP"):
        Settings.from_env({"ESTORE_EVENT_LOOP": "trio"})


def test_redis_replies_are_parsed_by_hiredis() -> None:
    assert connection.DefaultParser.__name__ == "_AsyncHiredisParser"

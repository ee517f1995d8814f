"""The pool checks a connection only when it sat idle: a hot connection costs no round trip."""

from __future__ import annotations

from typing import Any, cast

import psycopg
import pytest

from estore.users.repository_base import IdleCheck


class FakeConnection:
    """Counts the statements the pool's check sends."""

    autocommit = True

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def execute(self, statement: str) -> None:
        self.statements.append(statement)


def _connection() -> tuple[FakeConnection, psycopg.AsyncConnection[Any]]:
    fake = FakeConnection()
    return fake, cast(psycopg.AsyncConnection[Any], fake)


async def test_a_connection_handed_out_moments_ago_is_not_checked_again() -> None:
    idle = IdleCheck(idle_seconds=3600)
    fake, connection = _connection()
    await idle.check(connection)  # never handed out before: checked
    await idle.check(connection)
    await idle.check(connection)
    assert fake.statements == [""]


async def test_a_new_or_long_idle_connection_is_checked() -> None:
    idle = IdleCheck(idle_seconds=0)
    fake, connection = _connection()
    await idle.check(connection)  # never handed out yet
    await idle.check(connection)  # last handed out longer than 0 s ago
    assert fake.statements == ["", ""]


async def test_a_connection_that_failed_its_check_is_checked_next_time() -> None:
    idle = IdleCheck(idle_seconds=3600)
    fake, connection = _connection()

    async def refuse(statement: str) -> None:
        raise psycopg.OperationalError("server closed the connection")

    fake.execute = refuse  # type: ignore[method-assign]
    with pytest.raises(psycopg.OperationalError):
        await idle.check(connection)
    del fake.execute
    await idle.check(connection)
    assert fake.statements == [""]

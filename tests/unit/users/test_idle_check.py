"""The pool checks a connection only when it sat idle: a hot connection costs no round trip."""

from __future__ import annotations

from typing import Any, cast

import psycopg

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


async def test_a_connection_returned_moments_ago_is_not_checked() -> None:
    idle = IdleCheck(idle_seconds=3600)
    fake, connection = _connection()
    await idle.returned(connection)
    await idle.check(connection)
    assert fake.statements == []


async def test_a_new_or_long_idle_connection_is_checked() -> None:
    idle = IdleCheck(idle_seconds=0)
    fake, connection = _connection()
    await idle.check(connection)  # never returned yet
    await idle.returned(connection)
    await idle.check(connection)  # idle for longer than 0 s
    assert fake.statements == ["", ""]

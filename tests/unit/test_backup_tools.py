"""Backup's care with URLs and tools: no password in a manifest or on a command line."""

from __future__ import annotations

import pytest

from estore.backup.take import redis_db
from estore.backup.tools import (
    BackupError,
    find_tool,
    postgres_target,
    redact_url,
    redis_cli_target,
)


def test_passwords_never_reach_a_manifest() -> None:
    assert (
        redact_url("postgresql://app:p%40ss@db:5433/users") == "postgresql://app:***@db:5433/users"
    )
    assert redact_url("redis://:secret@cache:6380/2") == "redis://:***@cache:6380/2"
    assert redact_url("postgresql://db/users?password=x&sslmode=require") == (
        "postgresql://db/users?password=***&sslmode=require"
    )
    assert redact_url("redis://127.0.0.1:7000/0") == "redis://127.0.0.1:7000/0"


def test_passwords_go_to_the_tools_environment_not_their_arguments() -> None:
    assert postgres_target("postgresql://app:p%40ss@db/users") == (
        "postgresql://app@db/users", {"PGPASSWORD": "p@ss"},
    )  # fmt: skip
    assert redis_cli_target("redis://ops:pw@cache:6380/0") == (
        ["-u", "redis://cache:6380/0", "--user", "ops"], {"REDISCLI_AUTH": "pw"},
    )  # fmt: skip
    assert redis_cli_target("redis://cache:6380/0") == (["-u", "redis://cache:6380/0"], {})


def test_the_snapshot_remembers_which_redis_database_it_is() -> None:
    assert redis_db("redis://cache:6380") == 0
    assert redis_db("redis://cache:6380/3") == 3
    assert redis_db("unix:///run/redis.sock?db=2") == 2
    with pytest.raises(BackupError):
        redis_db("redis://cache/orders")


def test_a_missing_tool_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(BackupError, match=r"apt-get install redis-tools"):
        find_tool("redis-cli")

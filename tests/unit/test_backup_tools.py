"""Backup's care with URLs and tools: no password in a manifest or on a command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from estore.backup.restore import restore_backup
from estore.backup.take import redis_db, take_backup
from estore.backup.tools import (
    BackupError,
    find_tool,
    postgres_target,
    redact_url,
    redis_cli_target,
)
from estore.stack import StoreUrls


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


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_a_redis_cluster_is_refused_before_anything_is_touched(
    command: str, tmp_path: Path
) -> None:
    cluster = "redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001"
    urls = StoreUrls("postgresql://db/estore", cluster, cluster)
    run = take_backup if command == "backup" else restore_backup
    with pytest.raises(BackupError, match="is a Redis Cluster") as caught:
        run(urls, tmp_path / "backup")
    assert "secret" not in str(caught.value)
    assert not (tmp_path / "backup").exists()

"""stack.json: how `estore up` tells other commands where its stores are, and who wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estore.common.config import ConfigError, Settings
from estore.stack import StoreUrls, published_stack, read_stack, resolve_store_urls, write_stack

RUNNING = StoreUrls("postgresql://up/users", "redis://up:1/0", "redis://up:1/0")


def _settings(data_dir: Path, **environ: str) -> Settings:
    return Settings.from_env({"ESTORE_DATA_DIR": str(data_dir), **environ})


def test_the_running_estore_up_supplies_what_the_environment_does_not(tmp_path: Path) -> None:
    write_stack(tmp_path, RUNNING)
    assert resolve_store_urls(_settings(tmp_path)) == RUNNING
    mixed = resolve_store_urls(
        _settings(tmp_path, ESTORE_USERS_DATABASE_URL="postgresql://env/db",
                  ESTORE_PAYMENTS_REDIS_URL="redis://env:2/0")
    )  # fmt: skip
    assert mixed == StoreUrls("postgresql://env/db", "redis://up:1/0", "redis://env:2/0")


def test_a_stack_file_left_by_a_dead_estore_up_is_ignored(tmp_path: Path) -> None:
    path = write_stack(tmp_path, RUNNING)
    recorded = json.loads(path.read_text())
    path.write_text(json.dumps({**recorded, "pid": 2**22 + 1}))  # above any pid_max: never alive
    assert read_stack(tmp_path) is None
    with pytest.raises(ConfigError, match=r"ESTORE_USERS_DATABASE_URL.*no `estore up` is running"):
        resolve_store_urls(_settings(tmp_path, ESTORE_REDIS_URL="redis://env:2/0"))


def test_a_damaged_or_missing_stack_file_is_no_stack(tmp_path: Path) -> None:
    assert read_stack(tmp_path) is None
    (tmp_path / "stack.json").write_text("{not json")
    assert read_stack(tmp_path) is None


def test_published_stack_lasts_as_long_as_estore_up(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        ESTORE_USERS_DATABASE_URL=RUNNING.users_database_url,
        ESTORE_REDIS_URL=RUNNING.inventory_redis_url,
    )
    with published_stack(settings) as path:
        assert path.stat().st_mode & 0o777 == 0o600
        assert read_stack(tmp_path) == RUNNING
    assert not path.exists()

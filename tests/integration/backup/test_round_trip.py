"""Fill every store, back up, wipe, restore: every user, product and order is back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from estore.cli import main
from estore.users.models import User
from estore.users.repository import UserRepository
from estore.users.user_cache import UserCache
from tests.helpers import eventually
from tests.integration.backup.conftest import Stores
from tests.integration.backup.contents import (
    assert_ttls_kept,
    expiring,
    fill_inventory,
    fill_payments,
    fill_users,
    redis_contents,
    users_contents,
)


async def estore(*argv: str) -> int:
    """Run the `estore` command in a thread, as a separate process would not block this loop."""
    return await asyncio.to_thread(main, list(argv))


def wipe(stores: Stores) -> None:
    """Lose everything: the users schema and every Redis key."""
    with psycopg.connect(stores.users_url, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
    stores.inventory.flushall()
    with pytest.raises(psycopg.errors.UndefinedTable):
        users_contents(stores.users_url)
    assert stores.inventory.dbsize() == stores.payments.dbsize() == 0


async def test_restore_brings_back_every_user_product_and_order(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill_users(stores.users_url)
    fill_inventory(stores.inventory)
    fill_payments(stores.payments)
    users, keys, ttls = (
        users_contents(stores.users_url), redis_contents(stores.inventory),
        expiring(stores.inventory),
    )  # fmt: skip
    backup = tmp_path / "backup"

    assert await estore("backup", str(backup)) == 0
    manifest = json.loads((backup / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["redis-inventory.rdb", "users.dump"]
    assert manifest["redis"][0]["stores"] == ["inventory", "payments"]
    # A UserService left running keeps accounts; the restore tells it to drop them all.
    cache = UserCache(stores.users_url)
    await cache.start()
    cache.put(User(1, "kept@example.com", True, True, False, datetime.now(UTC), None), cache.epoch)
    wipe(stores)
    assert await estore("restore", str(backup), "--yes") == 0

    async def emptied() -> bool:
        return cache.get(1) is None

    await eventually(emptied, within=5)
    await cache.stop()

    assert users_contents(stores.users_url) == users
    assert redis_contents(stores.inventory) == keys
    assert_ttls_kept(ttls, expiring(stores.inventory))
    assert "checksums match" in capsys.readouterr().err
    async with AsyncConnectionPool(stores.users_url, open=False, min_size=1, max_size=1) as pool:
        newcomer = await UserRepository(pool).create_user("new@example.com", "hash")
    assert newcomer.id > max(row[0] for row in users["users"])  # the id sequence came back too


async def test_separate_redis_urls_are_saved_and_restored_each_on_its_own(
    separate_stores: Stores, tmp_path: Path
) -> None:
    stores = separate_stores
    await fill_users(stores.users_url, count=2)
    fill_inventory(stores.inventory)
    fill_payments(stores.payments)
    inventory, payments = redis_contents(stores.inventory), redis_contents(stores.payments)
    backup = tmp_path / "backup"

    assert await estore("backup", str(backup)) == 0
    manifest = json.loads((backup / "manifest.json").read_text())
    assert [(s["file"], s["db"]) for s in manifest["redis"]] == [
        ("redis-payments.rdb", 1), ("redis-inventory.rdb", 0),
    ]  # fmt: skip
    wipe(stores)
    assert await estore("restore", str(backup), "--yes") == 0

    assert redis_contents(stores.inventory) == inventory
    assert redis_contents(stores.payments) == payments
    assert len(users_contents(stores.users_url)["users"]) == 2

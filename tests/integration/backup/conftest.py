"""The stores a backup test works on, named to `estore` through the environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from estore.embedded.redis import EmbeddedRedis

URL_VARIABLES = (
    "ESTORE_USERS_DATABASE_URL",
    "ESTORE_REDIS_URL",
    "ESTORE_INVENTORY_REDIS_URL",
    "ESTORE_PAYMENTS_REDIS_URL",
)


@dataclass
class Stores:
    """URLs and clients of the stores under test."""

    users_url: str
    inventory_url: str
    payments_url: str
    inventory: redis.Redis
    payments: redis.Redis


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No store URL in the environment, and a data dir of this test's own (returned)."""
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ESTORE_DATA_DIR", str(data_dir))
    return data_dir


def _stores(users_url: str, inventory_url: str, payments_url: str) -> Iterator[Stores]:
    with (
        redis.Redis.from_url(inventory_url) as inventory,
        redis.Redis.from_url(payments_url) as payments,
    ):
        yield Stores(users_url, inventory_url, payments_url, inventory, payments)


@pytest.fixture
def stores(
    monkeypatch: pytest.MonkeyPatch,
    no_store_env: Path,
    users_database_url: str,
    redis_url: str,
) -> Iterator[Stores]:
    """A migrated users database and one Redis for Inventory and Payments, as by default."""
    monkeypatch.setenv("ESTORE_USERS_DATABASE_URL", users_database_url)
    monkeypatch.setenv("ESTORE_REDIS_URL", redis_url)
    yield from _stores(users_database_url, redis_url, redis_url)


@pytest.fixture
def separate_stores(
    monkeypatch: pytest.MonkeyPatch,
    no_store_env: Path,
    users_database_url: str,
    redis_url: str,
    redis_server: EmbeddedRedis,
) -> Iterator[Stores]:
    """Inventory and Payments on different Redis URLs (databases 0 and 1 of the test server)."""
    inventory_url, payments_url = redis_server.url(0), redis_server.url(1)
    monkeypatch.setenv("ESTORE_USERS_DATABASE_URL", users_database_url)
    monkeypatch.setenv("ESTORE_INVENTORY_REDIS_URL", inventory_url)
    monkeypatch.setenv("ESTORE_PAYMENTS_REDIS_URL", payments_url)
    yield from _stores(users_database_url, inventory_url, payments_url)

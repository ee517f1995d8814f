"""Where the stores are: `<data dir>/stack.json` of a running `estore up`, and the URLs CLI uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from estore.common.config import ConfigError, Settings

STACK_FILE = "stack.json"


@dataclass(frozen=True)
class StoreUrls:
    """The three stores a command works on."""

    users_database_url: str
    inventory_redis_url: str
    payments_redis_url: str


def stack_path(data_dir: Path) -> Path:
    """The file a running `estore up` describes its stores in."""
    return data_dir / STACK_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is just not ours
        return True
    return True


def read_stack(data_dir: Path) -> StoreUrls | None:
    """The stores of the `estore up` running on `data_dir`; None if none runs (or it was killed)."""
    try:
        recorded = json.loads(stack_path(data_dir).read_text(encoding="utf-8"))
        pid = int(recorded["pid"])
        urls = StoreUrls(
            users_database_url=str(recorded["users_database_url"]),
            inventory_redis_url=str(recorded["inventory_redis_url"]),
            payments_redis_url=str(recorded["payments_redis_url"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return urls if _alive(pid) else None


def write_stack(data_dir: Path, urls: StoreUrls) -> Path:
    """Record `urls` as this process's stores (owner-only: URLs may hold passwords)."""
    path = stack_path(data_dir)
    partial = path.with_suffix(".json.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), **asdict(urls)}, handle, indent=2)
        handle.write("\n")
    partial.replace(path)
    return path


@contextmanager
def published_stack(settings: Settings) -> Iterator[Path]:
    """Write stack.json for the stores in `settings` while the block runs; remove it afterwards."""
    path = write_stack(settings.data_dir, _from_settings(settings, None, settings.data_dir))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _from_settings(settings: Settings, running: StoreUrls | None, data_dir: Path) -> StoreUrls:
    recorded = running or StoreUrls("", "", "")
    users = settings.users_database_url or recorded.users_database_url
    inventory = settings.inventory_redis_url or recorded.inventory_redis_url
    payments = settings.payments_redis_url or recorded.payments_redis_url
    missing = [
        name
        for name, value in (
            ("ESTORE_USERS_DATABASE_URL", users),
            ("ESTORE_INVENTORY_REDIS_URL", inventory),
            ("ESTORE_PAYMENTS_REDIS_URL", payments),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} not set (ESTORE_REDIS_URL sets both Redis URLs), and no "
            f"`estore up` is running on {data_dir} (no live {stack_path(data_dir)})"
        )
    return StoreUrls(users, inventory, payments)


def resolve_store_urls(settings: Settings) -> StoreUrls:
    """Each store's URL: the environment, else the running `estore up`; ConfigError if neither."""
    return _from_settings(settings, read_stack(settings.data_dir), settings.data_dir)

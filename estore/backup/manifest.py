"""manifest.json: what a backup folder holds, where it came from, and each file's SHA-256."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from estore.backup.tools import BackupError

MANIFEST = "manifest.json"
FORMAT = 1
USERS_DUMP = "users.dump"
REDIS_STORES = ("inventory", "payments")


@dataclass(frozen=True)
class RedisSnapshot:
    """One RDB file: the Redis database it came from and the stores that keep their keys there."""

    file: str
    db: int
    stores: tuple[str, ...]
    source: str  # redacted


@dataclass(frozen=True)
class Manifest:
    """The contents of manifest.json."""

    created_at: str
    estore_version: str
    users_source: str  # redacted
    redis: tuple[RedisSnapshot, ...]
    sha256: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to disk."""
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "estore_version": self.estore_version,
            "postgres": {"file": USERS_DUMP, "source": self.users_source},
            "redis": [
                {"file": s.file, "db": s.db, "stores": list(s.stores), "source": s.source}
                for s in self.redis
            ],
            "files": {name: {"sha256": digest} for name, digest in sorted(self.sha256.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Parse manifest.json; KeyError/TypeError/ValueError when it is not one of ours."""
        if data["format"] != FORMAT:
            raise ValueError(f"format {data['format']!r} is not {FORMAT}")
        redis = tuple(
            RedisSnapshot(str(s["file"]), int(s["db"]), tuple(s["stores"]), str(s["source"]))
            for s in data["redis"]
        )
        return cls(
            created_at=str(data["created_at"]),
            estore_version=str(data["estore_version"]),
            users_source=str(data["postgres"]["source"]),
            redis=redis,
            sha256={str(name): str(entry["sha256"]) for name, entry in data["files"].items()},
        )


def estore_version() -> str:
    """The installed estore package's version."""
    try:
        return version("estore")
    except PackageNotFoundError:
        return "unknown"


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write manifest.json last and atomically: a folder without one is not a finished backup."""
    partial = directory / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o600)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(directory / MANIFEST)


def _check_files(directory: Path, manifest: Manifest) -> None:
    needed = {USERS_DUMP, *(snapshot.file for snapshot in manifest.redis)}
    if not needed <= manifest.sha256.keys():
        raise BackupError(
            f"{directory / MANIFEST} lists no checksum for {needed - manifest.sha256.keys()}"
        )
    if {store for s in manifest.redis for store in s.stores} != set(REDIS_STORES):
        raise BackupError(f"{directory / MANIFEST} does not cover both inventory and payments")
    for name, expected in manifest.sha256.items():
        if Path(name).name != name:
            raise BackupError(f"{directory / MANIFEST} names a file outside the backup: {name}")
        path = directory / name
        if not path.is_file():
            raise BackupError(f"{path} is missing: the backup is incomplete")
        if sha256_of(path) != expected:
            raise BackupError(
                f"{path} does not match its checksum: the backup is damaged or altered"
            )


def read_verified(directory: Path) -> Manifest:
    """The backup's manifest, after checking every file against its checksum."""
    path = directory / MANIFEST
    try:
        manifest = Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise BackupError(f"{path} not found: not a finished `estore backup` folder") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{path} is not a manifest we can read ({error})") from None
    _check_files(directory, manifest)
    return manifest

"""Serve an RDB file from a temporary redis-server, and copy a database's keys to another Redis."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from mirakuru.exceptions import ExecutorError

from estore.backup.tools import BackupError
from estore.embedded.redis import EmbeddedRedis

# Loads dump.rdb from its --dir at start and never writes anything back.
SNAPSHOT_CONF = 'dbfilename dump.rdb\nappendonly no\nsave ""\n'
BATCH = 500
LOAD_TIMEOUT_SECONDS = 600.0


def _log_tail(server: EmbeddedRedis) -> str:
    log = server.data_dir / "redis.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return " / ".join(line.strip() for line in lines[-3:])


def _wait_until_loaded(server: EmbeddedRedis, name: str) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
    with redis.Redis(host=server.host, port=server.port) as client:
        while True:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:  # a big snapshot: Redis answers LOADING meanwhile
                if time.monotonic() > deadline:
                    raise BackupError(f"{name} took too long to load") from None
                time.sleep(0.2)
            except redis.ConnectionError:
                raise BackupError(
                    f"redis-server could not load {name}: {_log_tail(server)}"
                ) from None


def _start(server: EmbeddedRedis, name: str) -> None:
    try:
        server.start()
    except ExecutorError:  # redis-server exits at once on a damaged or too new RDB file
        raise BackupError(f"redis-server could not load {name}: {_log_tail(server)}") from None
    _wait_until_loaded(server, name)


@contextlib.contextmanager
def snapshot_server(rdb: Path, workdir: Path) -> Iterator[EmbeddedRedis]:
    """A private redis-server on a free loopback port holding exactly what `rdb` holds."""
    folder = workdir / rdb.stem
    folder.mkdir(parents=True)
    shutil.copyfile(rdb, folder / "dump.rdb")
    config = folder / "snapshot.conf"
    config.write_text(SNAPSHOT_CONF, encoding="utf-8")
    server = EmbeddedRedis(folder, config_file=config)
    try:
        _start(server, rdb.name)
        yield server
    finally:
        with contextlib.suppress(ExecutorError, OSError):
            server.stop()


def _batches(keys: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_batch(source: redis.Redis, target: redis.Redis, keys: list[bytes]) -> int:
    with source.pipeline(transaction=False) as read:
        for key in keys:
            read.dump(key)
            read.pttl(key)
        replies: list[Any] = read.execute()
    with target.pipeline(transaction=False) as write:
        for key, payload, ttl in zip(keys, replies[0::2], replies[1::2], strict=True):
            if payload is None or ttl == 0 or ttl < -1:  # expired since the scan found it
                continue
            # PTTL -1 (no expiry) becomes 0, which RESTORE takes as "no expiry".
            write.restore(key, max(ttl, 0), payload, replace=True)
        return len(write.execute())


def copy_database(server: EmbeddedRedis, db: int, target: redis.Redis) -> int:
    """Copy every key of database `db` on the snapshot server, with its TTL, into `target`."""
    copied = 0
    with redis.Redis(host=server.host, port=server.port, db=db) as source:
        # Nothing writes to the snapshot server, so one SCAN pass sees every key (REPLACE makes
        # the odd key SCAN returns twice harmless).
        for keys in _batches(source.scan_iter(count=BATCH), BATCH):
            copied += _copy_batch(source, target, keys)
    return copied

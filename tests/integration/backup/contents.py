"""What the backup tests put into the stores, and what they read back to compare."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import redis
from psycopg_pool import AsyncConnectionPool

from estore.inventory import store_keys
from estore.users.models import NewToken, TokenPurpose
from estore.users.repository import UserRepository

USER_TABLES = (
    "users", "verification_tokens", "login_failures", "service_secrets", "schema_migrations",
)  # fmt: skip
RESERVATION = b"inv:{inv}:reservation:r1"
RESETS = store_keys.RESETS.encode()
IDEMPOTENCY = b"pay:{pay}:idem:k1"


async def fill_users(url: str, count: int = 6) -> None:
    """Accounts the way UserService makes them: some admins, some verified, each with a token."""
    async with AsyncConnectionPool(url, open=False, min_size=1, max_size=2) as pool:
        users = UserRepository(pool)
        for n in range(count):
            digest = hashlib.sha256(f"token {n}".encode()).digest()
            await users.create_user(
                f"user{n}@example.com",
                f"$2b$04$hash-of-user-{n}",
                token=NewToken(digest, TokenPurpose.VERIFY_EMAIL, 3600),
                is_admin=n == 0,
                is_verified=n % 2 == 0,
            )
        await users.record_login_failure("user1@example.com", 900)
        await users.shared_secret(b"s" * 32)


def users_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every UserService table."""
    with psycopg.connect(url) as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in USER_TABLES
        }


def fill_inventory(client: redis.Redis) -> None:
    """Products (hashes), indexes (sorted set, set), events (a stream with a group), a reservation
    that expires, and a binary value."""
    client.hset("inv:{inv}:product:p1", mapping={"name": "Lamp", "price_minor": 1999, "qty": 7})
    client.hset("inv:{inv}:product:p2", mapping={"name": "Desk", "price_minor": 45000, "qty": 1})
    client.zadd("inv:{inv}:ix:id:price", {"p1": 1999, "p2": 45000})
    client.sadd("inv:{inv}:ix:id:in_stock", "p1", "p2")
    for product in ("p1", "p2"):
        client.xadd("inv:{inv}:events", {"kind": "product_created", "product": product})
    client.xgroup_create("inv:{inv}:events", "watchers", id="0")
    client.hset(RESERVATION, mapping={"product": "p1", "quantity": 2})
    client.pexpire(RESERVATION, 60_000)
    client.set("inv:{inv}:page_token_secret", b"\x00\xff\x10 binary")


def fill_payments(client: redis.Redis) -> None:
    """Orders (hashes), a user's order index (sorted set), a list, and a key with a TTL."""
    client.hset("pay:{pay}:order:o1", mapping={"user_id": 1, "total_minor": 2099, "status": "PAID"})
    client.hset("pay:{pay}:order:o2", mapping={"user_id": 2, "total_minor": 500, "status": "NEW"})
    client.zadd("pay:{pay}:orders:user:1", {"o1": 1})
    client.rpush("pay:{pay}:outbox", "o1", "o2")
    client.set(IDEMPOTENCY, "o2", px=120_000)


def _value(client: redis.Redis, key: bytes, kind: str) -> Any:
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "set":
        return client.smembers(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    assert kind == "stream", kind
    groups = [(g["name"], g["last-delivered-id"]) for g in client.xinfo_groups(key)]
    return client.xrange(key), groups


def redis_contents(client: redis.Redis) -> dict[bytes, tuple[str, Any]]:
    """Every key of the client's database: its type and its value (but the restore's own
    announcement to running Inventory instances, `inv:{inv}:resets`)."""
    contents = {}
    for key in client.scan_iter():
        if key == RESETS:
            continue
        raw = client.type(key)
        kind = raw.decode() if isinstance(raw, bytes) else raw
        contents[key] = (kind, _value(client, key, kind))
    return contents


def expiring(client: redis.Redis) -> dict[bytes, int]:
    """The keys that expire, with their remaining milliseconds."""
    return {key: ttl for key in client.scan_iter() if (ttl := client.pttl(key)) >= 0}


def assert_ttls_kept(before: dict[bytes, int], after: dict[bytes, int]) -> None:
    """The same keys expire, each about when it would have (allowing for the test's own time)."""
    assert after.keys() == before.keys()
    for key, remaining in before.items():
        assert remaining - 15_000 < after[key] <= remaining, key

"""Inventory's Lua scripts, read from lua/*.lua and registered once per Redis client."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from redis.commands.core import AsyncScript

from estore.common.redis import RedisClient

_LUA = Path(__file__).parent / "lua"


# Scripts that use none of the shared helpers: without them in front, each call skips defining
# them (a few microseconds of Redis time per ListProducts page).
_STANDALONE = frozenset({"list_products"})
# Scripts that append to a bucket's stream: each returns {its reply, the events it appended}
# (EMITTED in _lib.lua), which its caller applies to the global indexes (index_apply.lua).
EMITTING = frozenset(
    {
        "create_product",
        "update_product",
        "delete_product",
        "adjust_stock",
        "reserve_stock_batch",
        "commit_reservation_batch",
        "release_reservation_batch",
        "expire_reservations",
    }
)


def source(name: str) -> str:
    """The text of script `name`, with the shared helpers in front unless it needs none."""
    own = (_LUA / f"{name}.lua").read_text()
    if name in _STANDALONE:
        return own
    helpers = [(_LUA / f"{part}.lua").read_text() for part in ("_lib", "_stock")]
    if name in EMITTING:
        own = f"local function main()\n{own}\nend\nreturn {{main(), EMITTED}}"
    return "\n".join([*helpers, own])


@dataclass(frozen=True)
class Scripts:
    """One registered script per multi-step change (EVALSHA, loaded again after a flush)."""

    add_views: AsyncScript
    get_products: AsyncScript
    create_product: AsyncScript
    update_product: AsyncScript
    delete_product: AsyncScript
    list_products: AsyncScript
    adjust_stock: AsyncScript
    reserve_stock_batch: AsyncScript
    commit_reservation_batch: AsyncScript
    release_reservation_batch: AsyncScript
    expire_reservations: AsyncScript
    create_category: AsyncScript
    update_category: AsyncScript
    delete_category: AsyncScript
    reindex_categories: AsyncScript
    read_events: AsyncScript
    index_apply: AsyncScript

    @classmethod
    def register(cls, redis: RedisClient) -> Scripts:
        """Register every script with `redis` (nothing is sent until first use)."""
        return cls(**{f.name: redis.register_script(source(f.name)) for f in fields(cls)})

    async def load(self, redis: RedisClient) -> None:
        """SCRIPT LOAD every script now, so the first calls need no retry."""
        for f in fields(self):
            script: AsyncScript = getattr(self, f.name)
            await redis.script_load(script.script)

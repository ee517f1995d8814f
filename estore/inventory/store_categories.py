"""Categories in Redis: a tree through parent_id, children kept in name order per parent."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from estore.common.redis import RedisClient, queue_script, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import as_hash, category_from_hash
from estore.inventory.errors import (
    CategoryAlreadyExists,
    CategoryCycle,
    CategoryNotEmpty,
    CategoryNotFound,
    ConcurrentModification,
)
from estore.inventory.models import Category
from estore.inventory.store_errors import store_errors
from estore.inventory.store_products import ATTEMPTS
from estore.inventory.store_scripts import Scripts

# A walk up or down the tree gives up beyond this depth (a guard against corrupt data).
MAX_DEPTH = 1000


def _member_id(member: object) -> str:
    return text(member).rpartition("\0")[2]


def _create_call(category: Category) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of create_category.lua."""
    parent = [store_keys.category(category.parent_id)] if category.parent_id else []
    script_keys = [
        store_keys.category(category.id),
        store_keys.children(category.parent_id),
        store_keys.CATEGORIES_BY_NAME,
        store_keys.CATEGORY_PARENTS,
        *parent,
    ]
    args: list[str | int] = [
        category.id,
        category.name,
        category.name.lower(),
        category.description,
        category.parent_id,
    ]
    return script_keys, args


def _raise_for(status: str, category: Category) -> None:
    if status == "PARENT_NOT_FOUND":
        raise CategoryNotFound(category.parent_id)
    if status == "DUPLICATE":
        raise CategoryAlreadyExists(category.name)


@store_errors
class CategoryStore:
    """Category hashes, each parent's children set, and the all-categories name index."""

    def __init__(self, redis: RedisClient, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    async def create(self, category: Category) -> Category:
        """Store a new category; CategoryNotFound for a missing parent, AlreadyExists for a twin."""
        script_keys, args = _create_call(category)
        reply = await self._scripts.create_category(keys=script_keys, args=args)
        _raise_for(text(reply[0]), category)
        return category

    async def create_many(self, categories: Sequence[Category]) -> None:
        """Store many new categories in one pipeline, parents before children (bulk loads)."""
        script = self._scripts.create_category
        await self._redis.script_load(script.script)
        async with self._redis.pipeline(transaction=False) as pipe:
            for category in categories:
                script_keys, args = _create_call(category)
                queue_script(pipe, script.sha, script_keys, args)
            replies = await pipe.execute()
        for category, reply in zip(categories, replies, strict=True):
            _raise_for(text(reply[0]), category)

    async def get(self, category_id: str) -> Category | None:
        """The category, or None."""
        found = await self._redis.hgetall(store_keys.category(category_id))
        return category_from_hash(as_hash(found)) if found else None

    async def exists(self, category_id: str) -> bool:
        """Whether the category exists."""
        return bool(await self._redis.exists(store_keys.category(category_id)))

    async def ancestors(self, category_id: str) -> list[tuple[str, str]]:
        """(id, parent_id) from `category_id` up to its root; [] when it does not exist."""
        chain: list[tuple[str, str]] = []
        current = category_id
        while current and len(chain) < MAX_DEPTH:
            parent = await self._redis.hget(store_keys.category(current), "parent_id")
            if parent is None:
                break
            chain.append((current, text(parent)))
            current = text(parent)
        return chain

    async def update(self, category_id: str, change: Callable[[Category], Category]) -> Category:
        """Apply `change` to the current category (rename, move), refusing cycles and twins."""
        for _ in range(ATTEMPTS):
            current = await self._redis.hgetall(store_keys.category(category_id))
            if not current:
                raise CategoryNotFound(category_id)
            record = as_hash(current)
            changed = change(category_from_hash(record))
            chain = await self.ancestors(changed.parent_id) if changed.parent_id else []
            if changed.parent_id and not chain:
                raise CategoryNotFound(changed.parent_id)
            if any(node == category_id for node, _ in chain):
                raise CategoryCycle()
            status = await self._update_once(record, changed, chain)
            if status == "OK":
                return changed
            if status == "NOT_FOUND":
                raise CategoryNotFound(category_id)
            if status == "PARENT_NOT_FOUND":
                raise CategoryNotFound(changed.parent_id)
            if status == "CYCLE":
                raise CategoryCycle()
            if status == "DUPLICATE":
                raise CategoryAlreadyExists(changed.name)
        raise ConcurrentModification()

    async def _update_once(
        self, record: dict[str, str], changed: Category, chain: Sequence[tuple[str, str]]
    ) -> str:
        script_keys = [
            store_keys.category(changed.id),
            store_keys.children(record["parent_id"]),
            store_keys.children(changed.parent_id),
            store_keys.CATEGORIES_BY_NAME,
            store_keys.CATEGORY_PARENTS,
            store_keys.SUBTREE_PRODUCTS,
            *(store_keys.category(node) for node, _ in chain),
        ]
        args: list[str | int] = [
            record["rev"],
            changed.name,
            changed.name.lower(),
            changed.description,
            changed.parent_id,
            len(chain),
            *(parent for _, parent in chain),
        ]
        return text((await self._scripts.update_category(keys=script_keys, args=args))[0])

    async def delete(self, category_id: str) -> None:
        """Delete an empty category; CategoryNotEmpty while it has children or products."""
        for _ in range(ATTEMPTS):
            parent = await self._redis.hget(store_keys.category(category_id), "parent_id")
            if parent is None:
                raise CategoryNotFound(category_id)
            script_keys = [
                store_keys.category(category_id),
                store_keys.children(category_id),
                store_keys.in_category(store_keys.CREATED, category_id),
                store_keys.children(text(parent)),
                store_keys.CATEGORIES_BY_NAME,
                store_keys.CATEGORY_PARENTS,
                store_keys.SUBTREE_PRODUCTS,
            ]
            reply = await self._scripts.delete_category(keys=script_keys, args=[text(parent)])
            status = text(reply[0])
            if status == "OK":
                return
            if status == "NOT_FOUND":
                raise CategoryNotFound(category_id)
            if status == "NOT_EMPTY":
                raise CategoryNotEmpty(category_id)
        raise ConcurrentModification()

    async def page(
        self, parent_id: str | None, after: str, size: int
    ) -> tuple[list[Category], str]:
        """Up to `size` categories after the member `after`, and the next page's cursor."""
        # parent_id None lists every category; "" the roots; an id that category's children.
        index = (
            store_keys.CATEGORIES_BY_NAME if parent_id is None else store_keys.children(parent_id)
        )
        start = f"({after}" if after else "-"
        members = await self._redis.zrange(index, start, "+", bylex=True, offset=0, num=size + 1)
        page = [text(m) for m in members[:size]]
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in page:
                pipe.hgetall(store_keys.category(_member_id(member)))
            found = await pipe.execute()
        categories = [category_from_hash(as_hash(h)) for h in found if h]
        return categories, (page[-1] if len(members) > size else "")

    async def subtree(self, category_id: str, limit: int = 100_000) -> list[str]:
        """The category and its descendants, a level at a time; stops once past `limit`."""
        found, level = [category_id], [category_id]
        while level and len(found) <= limit:
            async with self._redis.pipeline(transaction=False) as pipe:
                for node in level:
                    pipe.zrange(store_keys.children(node), 0, -1)
                replies = await pipe.execute()
            level = [_member_id(m) for members in replies for m in members]
            found += level
        return found

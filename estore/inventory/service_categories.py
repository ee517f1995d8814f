"""InventoryService rules for categories: a tree, names unique among siblings, no cycles."""

from __future__ import annotations

import dataclasses
import json
import uuid

from estore.common.auth import Caller
from estore.common.errors import InvalidArgument
from estore.common.paging import page_size
from estore.inventory import rules_fields
from estore.inventory.errors import CategoryCycle, CategoryNotFound
from estore.inventory.models import Category, CategoryPage
from estore.inventory.rules_fields import Violations
from estore.inventory.rules_listing import PageTokenSource
from estore.inventory.store import InventoryStore


class CategoryService:
    """The category tree."""

    def __init__(self, store: InventoryStore, *, tokens: PageTokenSource) -> None:
        self._store = store
        self._tokens = tokens

    async def create_category(self, caller: Caller, draft: Category) -> Category:
        """A new category at the root or under an existing parent."""
        caller.require_admin()
        v = Violations()
        checked = rules_fields.category(v, draft)
        v.raise_if_any()
        created = dataclasses.replace(checked, id=uuid.uuid4().hex)
        return await self._store.categories.create(created)

    async def get_category(self, category_id: str) -> Category:
        """One category."""
        rules_fields.require_id("category_id", category_id)
        found = await self._store.categories.get(category_id)
        if found is None:
            raise CategoryNotFound(category_id)
        return found

    async def list_categories(
        self, parent_id: str | None, size: int, page_token: str
    ) -> CategoryPage:
        """Every category, the roots (parent ""), or one category's children, by name then id."""
        if parent_id:
            rules_fields.require_id("parent_id", parent_id)
        size = page_size(size)
        if parent_id and not await self._store.categories.exists(parent_id):
            raise CategoryNotFound(parent_id)
        scope = json.dumps({"categories_of": parent_id})
        tokens = await self._tokens.tokens()
        cursor = tokens.decode(page_token, scope) or {"m": ""}
        after = cursor.get("m")
        if not isinstance(after, str):
            raise InvalidArgument.field(
                "page_token", "is not a token this server issued", reason="INVALID_PAGE_TOKEN"
            )
        categories, last = await self._store.categories.page(parent_id, after, size)
        token = tokens.encode({"m": last}, scope) if last else ""
        return CategoryPage(categories, token)

    async def update_category(
        self, caller: Caller, draft: Category, paths: frozenset[str]
    ) -> Category:
        """Rename, describe or move (with its subtree) the category named by draft.id."""
        caller.require_admin()
        v = Violations()
        rules_fields.identifier(v, "category.id", draft.id)
        rules_fields.update_mask(v, paths, rules_fields.CATEGORY_PATHS)
        changes = rules_fields.category_changes(v, draft, paths)
        v.raise_if_any()
        if changes.get("parent_id") == draft.id:
            raise CategoryCycle()
        return await self._store.categories.update(
            draft.id, lambda current: dataclasses.replace(current, **changes)
        )

    async def delete_category(self, caller: Caller, category_id: str) -> None:
        """Delete a category that has neither children nor products."""
        caller.require_admin()
        rules_fields.require_id("category_id", category_id)
        await self._store.categories.delete(category_id)

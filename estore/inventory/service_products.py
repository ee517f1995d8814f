"""InventoryService rules for products: who may do what, field rules and listing."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from estore.common.auth import Caller
from estore.common.paging import PageTokens, page_size
from estore.inventory import rules_fields
from estore.inventory.cache_products import ProductCache
from estore.inventory.codec_redis import product_fields
from estore.inventory.codec_wire import ProductEncoder
from estore.inventory.errors import CategoryNotFound, ProductNotFound
from estore.inventory.models import (
    Clock,
    NewProduct,
    Product,
    ProductAnalytics,
    ProductFields,
    ProductFilter,
    ProductPage,
)
from estore.inventory.rules_fields import Violations
from estore.inventory.rules_listing import (
    PageTokenSource,
    catalog_query,
    cursor_data,
    cursor_from,
    parse_order_by,
    query_scope,
)
from estore.inventory.store import InventoryStore
from estore.inventory.store_catalog import CatalogQuery, Cursor
from estore.inventory.task_view_counts import ViewCounts


def require_admin_or_service(caller: Caller) -> None:
    """Admins and internal services pass; anyone else is refused (as needing an admin)."""
    if not caller.is_service:
        caller.require_admin()


class ProductService:
    """Products: the catalogue, its listing and analytics."""

    def __init__(
        self,
        store: InventoryStore,
        *,
        currency: str,
        clock: Clock,
        tokens: PageTokenSource,
        cache: ProductCache | None = None,
    ) -> None:
        self._store = store
        # Without a cache followed by the event reader (app.py), nothing is served from it.
        self.cache = cache if cache is not None else ProductCache(ProductEncoder(currency))
        self._currency = currency
        self._clock = clock
        self._tokens = tokens
        # Views are counted here and added to Redis in batches: GetProduct stays one read.
        self.views = ViewCounts(self._add_views)

    async def create_product(self, caller: Caller, draft: NewProduct) -> Product:
        """A new product from `draft`, created_by the calling admin."""
        caller.require_admin()
        v = Violations()
        fields = rules_fields.product_fields(v, draft, self._currency)
        quantity = rules_fields.integer(v, "product.quantity", draft.quantity, 0, 2**31 - 1)
        v.raise_if_any()
        assert caller.user_id is not None  # admins are users
        product_id = uuid.uuid4().hex
        try:
            return await self._store.products.create(
                product_id, fields, quantity, caller.user_id, self._clock()
            )
        finally:  # it shows in this instance's next listing
            self.cache.product_changed(product_id)

    async def get_product(self, product_id: str) -> Product:
        """The product (one read); its view is counted in memory and saved within a second."""
        rules_fields.require_id("product_id", product_id)
        found = await self._store.products.get(product_id)
        if found is None:
            raise ProductNotFound(product_id)
        self.views.count(product_id, self._clock())
        return found

    async def product_entry(self, product_id: str) -> bytes:
        """GetProduct's product serialized, from the near cache when it may serve it."""
        rules_fields.require_id("product_id", product_id)
        entry = self.cache.get(product_id)
        if entry is None:
            ticket = self.cache.ticket()
            found = await self._store.products.get(product_id)
            if found is None:
                raise ProductNotFound(product_id)
            entry = self.cache.fill(found, ticket)
        self.views.count(product_id, self._clock())
        return entry

    async def _add_views(self, batch_id: str, views: Mapping[str, tuple[int, int]]) -> None:
        await self._store.products.add_views(batch_id, views)

    async def update_product(
        self, caller: Caller, product_id: str, draft: NewProduct, paths: frozenset[str]
    ) -> Product:
        """Change the fields named by `paths` to their values in `draft`."""
        caller.require_admin()
        v = Violations()
        rules_fields.identifier(v, "product.id", product_id)
        rules_fields.update_mask(v, paths, rules_fields.PRODUCT_PATHS)
        changes = rules_fields.product_changes(v, draft, paths, self._currency)
        v.raise_if_any()

        def change(current: Product) -> ProductFields:
            return dataclasses.replace(product_fields(current), **changes)

        try:
            return await self._store.products.update(product_id, change, self._clock())
        finally:  # read-your-writes on this instance, even when the outcome is unknown
            self.cache.product_changed(product_id)

    async def delete_product(self, caller: Caller, product_id: str) -> None:
        """Delete the product unless stock is held for it."""
        caller.require_admin()
        rules_fields.require_id("product_id", product_id)
        try:
            await self._store.products.delete(product_id, self._clock())
        finally:
            self.cache.product_changed(product_id)

    async def get_analytics(self, caller: Caller, product_id: str) -> ProductAnalytics:
        """The product's view and stock-update counters."""
        caller.require_admin()
        rules_fields.require_id("product_id", product_id)
        await self.views.flush()  # this instance's views are exact; others' lag a second
        found = await self._store.products.analytics(product_id)
        if found is None:
            raise ProductNotFound(product_id)
        return found

    async def list_products(
        self, f: ProductFilter, order_by: str, size: int, page_token: str
    ) -> ProductPage:
        """One page of matching products in the asked order, served from the indexes."""
        product_ids, token = await self._page(f, order_by, size, page_token)
        return ProductPage(await self._store.products.get_many(product_ids), token)

    async def list_entries(
        self, f: ProductFilter, order_by: str, size: int, page_token: str
    ) -> tuple[list[bytes], str]:
        """ListProducts' products serialized and its next page token; only the products the
        near cache cannot serve are read from Redis."""
        product_ids, token = await self._page(f, order_by, size, page_token)
        cached = self.cache.get_many(product_ids)
        if len(cached) < len(product_ids):
            ticket = self.cache.ticket()
            missing = [pid for pid in product_ids if pid not in cached]
            for product in await self._store.products.get_many(missing):
                cached[product.id] = self.cache.fill(product, ticket)
        # Products deleted since the index was read are left out, as get_many leaves them.
        return [cached[pid] for pid in product_ids if pid in cached], token

    async def _page(
        self, f: ProductFilter, order_by: str, size: int, page_token: str
    ) -> tuple[list[str], str]:
        """The ids of one page of matching products, and the next page's token."""
        order = parse_order_by(order_by)
        query = catalog_query(f, order, self._currency)
        size = page_size(size)
        scope = query_scope(query)
        tokens = await self._tokens.tokens()
        cursor = cursor_from(tokens.decode(page_token, scope))
        if f.category_id:  # category changes emit no event: such pages are never kept
            if not await self._store.categories.exists(f.category_id):
                raise CategoryNotFound(f.category_id)
            return await self._read_page(query, cursor, size, scope, tokens)
        key, by_stock = (scope, cursor, size), query.in_stock or query.low_stock
        kept = self.cache.page(key, by_stock=by_stock)
        if kept is None:
            ticket = self.cache.page_ticket()
            kept = await self._read_page(query, cursor, size, scope, tokens)
            self.cache.keep_page(key, kept, by_stock=by_stock, ticket=ticket)
        return kept

    async def _read_page(
        self, query: CatalogQuery, cursor: Cursor | None, size: int, scope: str, tokens: PageTokens
    ) -> tuple[list[str], str]:
        """A page's ids and next token, read from the indexes."""
        page = await self._store.catalog.page(query, cursor, size)
        token = (
            "" if page.next_cursor is None else tokens.encode(cursor_data(page.next_cursor), scope)
        )
        return page.product_ids, token

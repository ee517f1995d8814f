"""InventoryService rules for watching: who may watch, what they asked for, and the feed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from estore.common.auth import Caller
from estore.inventory import rules_fields
from estore.inventory.models import EventFilter, EventType, InventoryEvent
from estore.inventory.rules_fields import Violations
from estore.inventory.service_products import require_admin_or_service
from estore.inventory.task_event_feed import EventFeed


class WatchService:
    """WatchInventory: the event feed, filtered for one caller."""

    def __init__(self, feed: EventFeed) -> None:
        self._feed = feed

    async def watch(self, caller: Caller, wanted: EventFilter) -> AsyncIterator[InventoryEvent]:
        """Events after `wanted.after_event_id` ("" = from now), filtered, until cancelled."""
        require_admin_or_service(caller)
        v = Violations()
        rules_fields.identifiers(
            v, "product_ids", wanted.product_ids, rules_fields.WATCH_PRODUCTS_MAX
        )
        after = rules_fields.stream_id(v, "after_event_id", wanted.after_event_id)
        v.raise_if_any()
        async for event in self._feed.watch(after):
            if wanted.product_ids and event.product_id not in wanted.product_ids:
                continue
            if wanted.low_stock_only and event.type is not EventType.LOW_STOCK:
                continue
            yield event

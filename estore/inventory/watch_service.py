"""InventoryService rules for watching: who may watch, what they asked for, and the feed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from estore.common.auth import Caller
from estore.inventory import validation
from estore.inventory.event_feed import EventFeed
from estore.inventory.models import EventFilter, EventType, InventoryEvent
from estore.inventory.service import require_admin_or_service
from estore.inventory.validation import Violations


class WatchService:
    """WatchInventory: the event feed, filtered for one caller."""

    def __init__(self, feed: EventFeed) -> None:
        self._feed = feed

    async def watch(self, caller: Caller, wanted: EventFilter) -> AsyncIterator[InventoryEvent]:
        """Events after `wanted.after_event_id` ("" = from now), filtered, until cancelled."""
        require_admin_or_service(caller)
        v = Violations()
        validation.identifiers(v, "product_ids", wanted.product_ids, validation.WATCH_PRODUCTS_MAX)
        after = validation.stream_id(v, "after_event_id", wanted.after_event_id)
        v.raise_if_any()
        async for event in self._feed.watch(after):
            if wanted.product_ids and event.product_id not in wanted.product_ids:
                continue
            if wanted.low_stock_only and event.type is not EventType.LOW_STOCK:
                continue
            yield event

"""InventoryService: products, categories, analytics, stock and reservations, on Redis.

Each file's name starts with its layer, the rooms STYLE.md gives every service (servicer,
service, store), so a call can be followed down the layers: ReserveStock goes servicer.py →
service_stock.py → store.py → store_stock.py → lua/reserve_stock.lua; ListProducts goes
servicer.py → service_products.py (rules_listing.py) → store_catalog.py → lua/list_products.lua.

- `app.py`: wiring; `models.py` and `errors.py`: the domain's data and errors.
- `servicer.py`: transport only, protobuf in and out.
- `codec_*.py`: entities to and from protobuf (`codec_proto`), Redis hashes and stream entries
  (`codec_redis`) and the JSON of stored responses (`codec_json`).
- `rules_*.py`: pure rules with no I/O: field limits (`rules_fields`), listing order, filters and
  page tokens (`rules_listing`), how names split into words (`rules_words`).
- `service_*.py`: who may do what, per resource: products, categories, stock, watch.
- `store.py` and `store_*.py`: the only modules that talk to Redis; `store.py` is the facade
  (and the key layout: a product's keys in its bucket, the indexes in `{inv}`); `store_index.py`
  applies each bucket script's events to the global indexes.
- `task_*.py`: background work inside the process: the reservation sweeper, the indexer (the
  bucket streams into the indexes and the merged event stream), the event feed, GetProduct's
  view counts (saved in batches).
"""

"""InventoryService: products, categories, analytics, stock and reservations, on Redis.

Each file's name starts with the layer it belongs to, so a call can be followed down the
layers: ReserveStock goes transport.py → service_stock.py → store.py → store_stock.py and
lua/reserve_stock.lua; ListProducts goes transport.py → service_products.py (rules_listing.py)
→ store_catalog.py and lua/list_products.lua.

- `app.py`: wiring; `models.py` and `errors.py`: the domain's data and errors.
- `transport.py`: the gRPC servicer, protobuf in and out.
- `codec_*.py`: entities to and from protobuf (`codec_proto`), Redis hashes and stream entries
  (`codec_redis`) and the JSON of stored responses (`codec_json`).
- `rules_*.py`: pure rules with no I/O: field limits (`rules_fields`), listing order, filters and
  page tokens (`rules_listing`), how names split into words (`rules_words`).
- `service_*.py`: who may do what, per resource: products, categories, stock, watch.
- `store.py` and `store_*.py`: the only modules that talk to Redis; `store.py` is the facade.
- `task_*.py`: background work inside the process: the reservation sweeper, the event feed.
"""

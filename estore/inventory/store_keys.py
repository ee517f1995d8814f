"""Inventory's Redis key names: a product's own keys carry its bucket's hash tag
`{inv:<bucket>}`, the global indexes and the merged event stream the tag `{inv}` (see store.py)."""

from __future__ import annotations

import hashlib

from estore.common.buckets import bucket_of

PREFIX = "inv:{inv}"  # the index slot


def tag(bucket: int) -> str:
    """The prefix of every key of a bucket."""
    return f"inv:{{inv:{bucket}}}"


def product_tag(product_id: str) -> str:
    """The prefix of a product's own keys: its hash, analytics and reservations."""
    return tag(bucket_of(product_id))


def bucket_events(bucket: int) -> str:
    """Stream of a bucket's events, each carrying what the indexes need (the indexer's input)."""
    return f"{tag(bucket)}:events"


def bucket_expiry(bucket: int) -> str:
    """Sorted set of a bucket's held reservation ids by expires_at."""
    return f"{tag(bucket)}:reservations:expiry"


# Product filter indexes come in flavours, one per order, each a sorted set in that order so
# that a page can walk the smallest of them from its cursor instead of the whole catalogue:
# "cr" holds product ids by created_at and "pr" product ids by price (ties by id, like the
# order indexes), "nl" the name sort member "<lower-cased name>\0<id>" at score 0 (ZRANGE
# BYLEX). The stock sets, which change with every reservation, stay plain sets of ids ("id")
# beside their "nl" sorted sets: they are tested, never walked. Layout 3 and older kept the
# category, tag and word sets as plain "id" sets (store_catalog_layout.py rebuilds them).
ID = "id"
CREATED = "cr"
PRICED = "pr"
NAME = "nl"
FLAVOURS = (CREATED, PRICED, NAME)


def product(product_id: str) -> str:
    """Hash of one product's fields and stock counters."""
    return product_in(bucket_of(product_id), product_id)


def product_in(bucket: int, product_id: str) -> str:
    """A product's hash named by its bucket (the expiry sweep knows the bucket)."""
    return f"{tag(bucket)}:product:{product_id}"


def reservation_in(bucket: int, reservation_id: str) -> str:
    """A reservation's hash named by its bucket (the expiry index's)."""
    return f"{tag(bucket)}:reservation:{reservation_id}"


def analytics(product_id: str) -> str:
    """Hash of one product's view and stock-update counters."""
    return f"{product_tag(product_id)}:analytics:{product_id}"


def reservation(product_id: str, reservation_id: str) -> str:
    """Hash of one reservation, in its product's bucket."""
    return reservation_in(bucket_of(product_id), reservation_id)


def reservation_product(reservation_id: str) -> str:
    """String: the product id a reservation id is claimed for, in the index slot (the hold's
    bucket is known only from it); lives as long as the reservation and a grace after."""
    return f"{PREFIX}:reservation-product:{reservation_id}"


def category(category_id: str) -> str:
    """Hash of one category."""
    return f"{PREFIX}:category:{category_id}"


def children(parent_id: str) -> str:
    """Sorted set (score 0, by name) of a category's children; parent "" is the root level."""
    if not parent_id:
        return f"{PREFIX}:categories:roots"
    return f"{PREFIX}:category:{parent_id}:children"


CATEGORIES_BY_NAME = f"{PREFIX}:categories:by_name"
# Hash: category id -> parent id ("" for a root); lets a script walk up the tree from fixed keys.
CATEGORY_PARENTS = f"{PREFIX}:categories:parents"
# Hash: category id -> products filed in it or anywhere below it (plans subtree listings).
SUBTREE_PRODUCTS = f"{PREFIX}:categories:subtree_products"
# Hash: reservation id -> product id, every id ever claimed, as layout 4 and older kept them
# (and instances of that version still write during a rolling deploy): read for ids whose
# `reservation_product` key is missing, emptied at start (store_layout_owners.py).
OLD_RESERVATION_PRODUCTS = f"{PREFIX}:reservation-products"
# The merged stream: every bucket's events, appended once each by the index script.
EVENTS = f"{PREFIX}:events"
# Hash: product id -> "<event id>|<stock state>|<index entry>" as last applied (index_apply.lua).
INDEXED = f"{PREFIX}:indexed"
# Sorted set: buckets with events not yet read by their indexer (member bucket, score range).
DOORBELL = f"{PREFIX}:indexer:rung"
# Stream: one entry each time `estore restore` replaced the data (near caches are emptied).
RESETS = f"{PREFIX}:resets"
PAGE_TOKEN_SECRET = f"{PREFIX}:page_token_secret"
IDEMPOTENCY_PREFIX = f"{PREFIX}:idem"

BY_CREATED = f"{PREFIX}:ix:{ID}:created"
BY_PRICE = f"{PREFIX}:ix:{ID}:price"
BY_NAME = f"{PREFIX}:ix:nm:name"
BY_PRICE_NAMED = f"{PREFIX}:ix:nm:price"
# Where layout 2 and older kept the name-flavour filter sets (plain sets; BY_NAME and
# BY_PRICE_NAMED, sorted sets, live there too and stay).
OLD_NAME_SETS = f"{PREFIX}:ix:nm:*"
# Where layout 3 and older kept the category, tag and word sets of ids (plain sets).
OLD_ID_SETS = tuple(f"{PREFIX}:ix:{ID}:{kind}:*" for kind in ("category", "tag", "word"))
# Hash: product id -> its category id ("" for none); tests subtree membership row by row.
CATEGORY_OF = f"{PREFIX}:ix:{ID}:category_of"
# The version of the listing index layout that the data was last re-indexed to.
INDEX_VERSION = f"{PREFIX}:ix:version"


def in_stock(flavour: str) -> str:
    """Set of products with quantity > 0."""
    return f"{PREFIX}:ix:{flavour}:in_stock"


def low_stock(flavour: str) -> str:
    """Set of products with quantity <= min_stock_level."""
    return f"{PREFIX}:ix:{flavour}:low_stock"


def stock_sets() -> list[str]:
    """The four stock-state sets, in the order every stock script takes them."""
    return [in_stock(ID), in_stock(NAME), low_stock(ID), low_stock(NAME)]


def in_category(flavour: str, category_id: str) -> str:
    """Set of the products filed directly under a category."""
    return f"{PREFIX}:ix:{flavour}:category:{category_id}"


def with_tag(flavour: str, tag: str) -> str:
    """Set of the products carrying a tag."""
    return f"{PREFIX}:ix:{flavour}:tag:{tag}"


def with_word(flavour: str, word: str) -> str:
    """Set of the products whose name has this (lower-cased) word."""
    return f"{PREFIX}:ix:{flavour}:word:{word}"


def price_band(band: int) -> str:
    """Sorted set of the products whose price has `band` bits (see `band_of`), by created_at."""
    return f"{PREFIX}:ix:{CREATED}:price_band:{band}"


def band_of(price_minor: int) -> int:
    """The price band of a price: its bit length, so band b holds prices 2**(b-1) to 2**b - 1.
    A price range then spans few bands, each at least half inside it but at the two ends."""
    return max(0, price_minor).bit_length()


def views_added(bucket: int, batch_id: str) -> str:
    """Marks a batch's views of one bucket as added, so a batch sent again is not counted twice."""
    return f"{tag(bucket)}:views_added:{batch_id}"


def stock_applied(product_id: str, request_id: str) -> str:
    """Marker that an AdjustStock with this request id changed the stock (never twice)."""
    # A request id is free-form text: hashed, it never becomes part of a key as written.
    digest = hashlib.sha256(request_id.encode()).hexdigest()
    return f"{product_tag(product_id)}:adjust_applied:{digest}"


def product_sets(
    flavour: str, category_id: str, tags: tuple[str, ...], words: list[str]
) -> list[str]:
    """The filter sets of one flavour a product with these fields is in (category, tags,
    name words)."""
    sets = [in_category(flavour, category_id)] if category_id else []
    sets += [with_tag(flavour, tag) for tag in tags]
    sets += [with_word(flavour, word) for word in words]
    return sets

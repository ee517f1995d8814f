"""Where a Payments key lives: the user's bucket, written into every id made for that user.

A user's orders (with their notes, refunds and intents), order indexes, payment methods and
idempotency records share the hash tag `{pay:<bucket>}`, so every script on them runs on one
shard, and users spread over every master of a Redis Cluster. `bucket = crc32(str(user id))
% BUCKETS`. BUCKETS may never change without a migration that moves every key: a key's slot
follows its tag, and ids carry their bucket.

New order and payment method ids start with their bucket: `0417_<32 hex>`. Ids written before
buckets (32 hex, no `_`) are LEGACY: their keys stay where they were, under `{pay}`, and every
script on such an order still runs there (a fallback, not a migration: clients hold the old ids,
which cannot change, and a moved order would need a lookup on every call).
"""

from __future__ import annotations

import re

from estore.common.buckets import BUCKETS as BUCKETS
from estore.common.buckets import RANGE as RANGE
from estore.common.buckets import bucket_of, spans

LEGACY = -1  # the place of ids made before buckets: the old `{pay}` slot
_PREFIXED = re.compile(r"(\d{4})_")


def bucket_of_user(user_id: int) -> int:
    """The bucket of a user's keys, stable for ever."""
    return bucket_of(str(user_id))


def bucket_of_id(made_id: str) -> int:
    """The bucket an order or payment method id carries; LEGACY for ids made before buckets."""
    found = _PREFIXED.match(made_id)
    if found is None or int(found[1]) >= BUCKETS:
        return LEGACY
    return int(found[1])


def new_id(bucket: int, unique: str) -> str:
    """An id carrying its bucket."""
    return f"{bucket:04d}_{unique}"


def tag(bucket: int) -> str:
    """The prefix of every key of a bucket (of the legacy slot for LEGACY)."""
    return "pay:{pay}" if bucket == LEGACY else f"pay:{{pay:{bucket}}}"


def user_tag(user_id: int) -> str:
    return tag(bucket_of_user(user_id))


def id_tag(made_id: str) -> str:
    return tag(bucket_of_id(made_id))


def ranges() -> list[tuple[int, ...]]:
    """The sweep leases' ranges of buckets; the last one is the legacy slot alone."""
    return [*spans(), (LEGACY,)]

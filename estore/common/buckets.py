"""Bucket math shared by the services that spread their keys over a Redis Cluster's slots.

A key's bucket is `crc32(owner) % BUCKETS`, where the owner is what groups its keys (a Payments
user, an Inventory product). BUCKETS may never change without a migration that moves every
key: a key's slot follows its bucket's hash tag. Buckets are leased to instances in ranges of
RANGE (leases.py), so a sweep or an indexer pass covers a range at a time.
"""

from __future__ import annotations

import zlib

BUCKETS = 1024  # never change without a migration of every key (see above)
RANGE = 16  # buckets per lease: 64 ranges


def bucket_of(owner: str) -> int:
    """The bucket of an owner's keys, stable for ever."""
    return zlib.crc32(owner.encode()) % BUCKETS


def spans() -> list[tuple[int, ...]]:
    """The ranges of buckets a lease covers, in order."""
    return [tuple(range(start, start + RANGE)) for start in range(0, BUCKETS, RANGE)]

"""Layout 5: the one hash of every reservation id ever claimed (layout 4) becomes one string per
id (store_reservation_owners.py), so that the map holds only the ids of reservations that exist.

Each entry whose reservation still exists moves to its key, with a time to live covering the
reservation (keep_claim); an entry whose reservation is gone is dropped; and each batch's fields
are deleted from the hash, which Redis drops with its last field. SET NX never overwrites a
claim made since, and a batch done twice finds its fields gone or moves them again alike, so a
run that stops half way resumes and several instances starting at once may run it together.
An instance of the older version still running (a rolling deploy) may add entries meanwhile:
they are read from the hash (the claims' fallback) and moved by the next start. Should one of
them claim an id between this step's look at the reservation and its hold, the entry is dropped
as gone: stop old-version writers first, as for the other layout steps.
"""

from __future__ import annotations

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.codec_redis import as_hash
from estore.inventory.store_reservation_owners import keep_claim

OLD = store_keys.OLD_RESERVATION_PRODUCTS
BATCH = 500


async def move_owners(redis: RedisClient, now: int) -> tuple[int, int]:
    """Move the old hash's entries of live reservations to their keys, drop the rest and
    delete the hash; (moved, dropped)."""
    moved = dropped = 0
    cursor = 0
    while True:
        cursor, found = await redis.hscan(OLD, cursor, count=BATCH)
        if found:
            entries = as_hash(found)
            done = await _move(redis, entries, now)
            moved, dropped = moved + done, dropped + len(entries) - done
        if cursor == 0:
            return moved, dropped


async def _move(redis: RedisClient, entries: dict[str, str], now: int) -> int:
    """Move one batch of entries; how many had a reservation."""
    async with redis.pipeline(transaction=False) as pipe:
        for rid, product_id in entries.items():
            reservation = store_keys.reservation(product_id, rid)
            pipe.hmget(reservation, "state", "expires_at")
            pipe.pttl(reservation)
        found = await pipe.execute()
    moved = 0
    async with redis.pipeline(transaction=False) as pipe:
        for (rid, product_id), (state, expires_at), ttl in zip(
            entries.items(), found[::2], found[1::2], strict=True
        ):
            # Gone (or never made: a claim whose hold was refused), or lapsing between the two
            # reads (PTTL -2): a claim with no time to live would be kept for ever.
            if state is None or ttl == -2:
                continue
            keep_claim(pipe, (rid, product_id, text(state), int(expires_at), int(ttl)), now)
            moved += 1
        pipe.hdel(OLD, *entries)  # after the SETs: a run that dies between them redoes the batch
        await pipe.execute()
    return moved

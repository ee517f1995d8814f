"""Which product each reservation id is for: one string per id in the index slot `{inv}`,
claimed before its hold and kept as long as the reservation, plus a grace.

A hold runs in its product's bucket, so the product of an id must be found before its
reservation can be: Commit/Release naming no product, and a hold naming another product (the id
is then REUSED), read it here. Each key lives the hold's time left, KEEP_FINAL_MS once final,
and CLAIM_GRACE_MS more, so it outlives its reservation's hash; once that hash has been gone
for the grace, the id is free again and the map holds only ids of reservations that exist.
Layout 4 and older kept one hash of every id ever claimed (store_keys.OLD_RESERVATION_PRODUCTS):
reads fall back to it for the ids whose key is missing, so only misses pay a second command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from estore.common.redis import RedisClient, text
from estore.inventory import store_keys
from estore.inventory.store_expiry import DAY_MS, KEEP_FINAL_MS

if TYPE_CHECKING:
    from estore.inventory.store_stock import Hold

# A held reservation becomes final when it is committed, released or swept, and a hold past its
# expires_at waits for the sweep: a day more covers a sweeper that runs late (every instance
# down, Redis unreachable) before the claim could lapse under a reservation still there.
CLAIM_GRACE_MS = DAY_MS


def claim_ttl_ms(expires_at: int, now: int) -> int:
    """How long the claim of a hold expiring at `expires_at` must live from `now`."""
    return max(expires_at - now, 0) + KEEP_FINAL_MS + CLAIM_GRACE_MS


def kept_ttl_ms(state: str, expires_at: int, ttl_ms: int, now: int) -> int | None:
    """How long the claim of an existing reservation must live (None: as long as it, which has
    no time to live): a held one's as a new hold's, a final one's its own time left + grace."""
    if state == "HELD":
        return claim_ttl_ms(expires_at, now)
    return ttl_ms + CLAIM_GRACE_MS if ttl_ms > 0 else None


# An existing reservation as a layout step reads it: id, product id, state, expires_at, PTTL.
Existing = tuple[str, str, str, int, int]


def keep_claim(pipe: Any, reservation: Existing, now: int) -> None:
    """Queue on `pipe` the claim of an existing reservation (a layout step moving it): SET NX,
    so never over a claim made since, for as long as kept_ttl_ms says."""
    reservation_id, product_id, state, expires_at, ttl_ms = reservation
    keep = kept_ttl_ms(state, expires_at, ttl_ms, now)
    pipe.set(store_keys.reservation_product(reservation_id), product_id, nx=True, px=keep)


async def claim(redis: RedisClient, holds: Sequence[Hold], now: int) -> list[bool]:
    """Whether each hold's reservation id is (now) its product's: one SET NX GET each (a new
    claim, or the product that has it), pipelined. Only a retry of a claim made before pays
    more: its time to live is stretched (never shortened) to cover this hold."""
    async with redis.pipeline(transaction=False) as pipe:
        for hold in holds:
            key = store_keys.reservation_product(hold.id)
            ttl = claim_ttl_ms(hold.expires_at, now)
            pipe.set(key, hold.product_id, nx=True, get=True, px=ttl)
        owners = [text(owner) if owner is not None else None for owner in await pipe.execute()]
    again = [h for h, owner in zip(holds, owners, strict=True) if owner == h.product_id]
    if again:
        async with redis.pipeline(transaction=False) as pipe:
            for hold in again:
                key = store_keys.reservation_product(hold.id)
                pipe.pexpire(key, claim_ttl_ms(hold.expires_at, now), gt=True)
            await pipe.execute()
    return [owner in (None, h.product_id) for h, owner in zip(holds, owners, strict=True)]


async def products_of(redis: RedisClient, reservation_ids: Sequence[str]) -> list[str | None]:
    """The product each reservation id is claimed for (None: none), by one MGET (every key is
    in `{inv}`, so a Redis Cluster takes it too); ids missing there are looked up in the old
    hash."""
    if not reservation_ids:
        return []
    keys = [store_keys.reservation_product(rid) for rid in reservation_ids]
    found = [text(p) if p is not None else None for p in await redis.mget(keys)]
    missing = [rid for rid, product in zip(reservation_ids, found, strict=True) if product is None]
    if not missing:
        return found
    old = await redis.hmget(store_keys.OLD_RESERVATION_PRODUCTS, missing)
    from_old = {rid: text(p) for rid, p in zip(missing, old, strict=True) if p is not None}
    return [p or from_old.get(rid) for rid, p in zip(reservation_ids, found, strict=True)]

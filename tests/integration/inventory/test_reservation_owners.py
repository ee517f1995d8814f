"""Which product a reservation id is for: one key per id that lapses a grace after its
reservation, the old hash still read, and the layout step that empties it."""

from __future__ import annotations

import pytest

from estore.common.errors import InvalidArgument
from estore.inventory import store_keys, store_layout_buckets, store_layout_owners
from estore.inventory.errors import InsufficientStock, ReservationIdReused
from estore.inventory.models import ReservationState
from estore.inventory.service_stock import ReserveEntry
from estore.inventory.store_expiry import DAY_MS
from estore.inventory.store_reservation_owners import CLAIM_GRACE_MS
from tests.integration.inventory.conftest import SERVICE, Inventory, build_inventory

MINUTE = 60_000
OLD = store_keys.OLD_RESERVATION_PRODUCTS


async def _as_before(inventory: Inventory, reservation_id: str, product_id: str) -> None:
    """Claim the id as the version before did: in the one hash, with no key."""
    await inventory.store.redis.delete(store_keys.reservation_product(reservation_id))
    await inventory.store.redis.hset(OLD, reservation_id, product_id)


async def _gone(inventory: Inventory, reservation_id: str, product_id: str) -> None:
    """What Redis does once the reservation and then its claim's grace have run out."""
    await inventory.store.redis.delete(
        store_keys.reservation(product_id, reservation_id),
        store_keys.reservation_product(reservation_id),
    )


async def test_a_hold_claims_its_id_in_a_key_that_outlives_the_reservation(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    await inventory.stock.reserve_stock(SERVICE, product.id, 2, "order-1", ttl_ms=10 * MINUTE)
    redis = inventory.store.redis
    claim = store_keys.reservation_product("order-1")
    assert await redis.get(claim) == product.id.encode()
    # The hold's 10 minutes, the day a final reservation is kept, and the sweeper's grace.
    ttl = await redis.pttl(claim)
    assert 10 * MINUTE + 2 * DAY_MS - MINUTE < ttl <= 10 * MINUTE + 2 * DAY_MS
    assert not await redis.exists(OLD)  # nothing is kept for ever


async def test_commit_and_release_by_id_alone_find_the_product_by_its_key(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    await inventory.stock.reserve_stock(SERVICE, product.id, 2, "sold")
    await inventory.stock.reserve_stock(SERVICE, product.id, 1, "given-back")
    assert not await inventory.store.redis.exists(OLD)
    sold = await inventory.stock.commit_reservation(SERVICE, "sold")
    assert (sold.product_id, sold.state) == (product.id, ReservationState.COMMITTED)
    back = await inventory.stock.release_reservation(SERVICE, "given-back")
    assert (back.product_id, back.state) == (product.id, ReservationState.RELEASED)
    [again] = await inventory.stock.commit_many(SERVICE, [("sold", "")])
    assert again == sold
    assert await inventory.store.stock.product_of("given-back") == product.id


async def test_an_id_is_its_products_while_its_reservation_exists_then_free(
    inventory: Inventory,
) -> None:
    first = await inventory.product("First", quantity=5)
    other = await inventory.product("Other", quantity=5)
    await inventory.stock.reserve_stock(SERVICE, first.id, 1, "order-2")
    await inventory.stock.commit_reservation(SERVICE, "order-2", first.id)
    with pytest.raises(ReservationIdReused):
        await inventory.stock.reserve_stock(SERVICE, other.id, 1, "order-2")
    [refused] = await inventory.stock.reserve_many(SERVICE, [_entry(other.id, "order-2")])
    assert isinstance(refused, ReservationIdReused)
    with pytest.raises(InvalidArgument, match="not the reservation's product"):
        await inventory.stock.release_reservation(SERVICE, "order-2", other.id)

    await _gone(inventory, "order-2", first.id)
    held = await inventory.stock.reserve_stock(SERVICE, other.id, 1, "order-2")
    assert (held.product_id, held.state) == (other.id, ReservationState.HELD)


async def test_a_retried_hold_stretches_the_claim_an_earlier_refusal_left(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=1)
    with pytest.raises(InsufficientStock):
        await inventory.stock.reserve_stock(SERVICE, product.id, 2, "order-3", ttl_ms=1000)
    claim = store_keys.reservation_product("order-3")
    assert await inventory.store.redis.pttl(claim) <= 1000 + 2 * DAY_MS
    await inventory.stock.adjust_stock(SERVICE, product.id, 1, "delivery")
    await inventory.stock.reserve_stock(SERVICE, product.id, 2, "order-3", ttl_ms=DAY_MS)
    assert await inventory.store.redis.pttl(claim) > 3 * DAY_MS - MINUTE
    # A retry asking a shorter hold never shortens the claim (the reservation keeps its own).
    await inventory.stock.reserve_stock(SERVICE, product.id, 2, "order-3", ttl_ms=1000)
    assert await inventory.store.redis.pttl(claim) > 3 * DAY_MS - MINUTE


async def test_an_id_claimed_in_the_old_hash_is_still_found(inventory: Inventory) -> None:
    product = await inventory.product(quantity=5)
    other = await inventory.product("Other", quantity=5)
    for rid in ("old-1", "old-2", "old-3"):
        await inventory.stock.reserve_stock(SERVICE, product.id, 1, rid)
        await _as_before(inventory, rid, product.id)
    await inventory.stock.reserve_stock(SERVICE, product.id, 1, "new-1")  # beside them
    assert sorted(await inventory.store.redis.hkeys(OLD)) == [b"old-1", b"old-2", b"old-3"]
    sold, new = await inventory.stock.commit_many(SERVICE, [("old-1", ""), ("new-1", "")])
    assert (sold.product_id, sold.state) == (product.id, ReservationState.COMMITTED)
    assert (new.product_id, new.state) == (product.id, ReservationState.COMMITTED)
    [back] = await inventory.stock.release_many(SERVICE, [("old-2", "")])
    assert back.state is ReservationState.RELEASED
    with pytest.raises(InvalidArgument, match="not the reservation's product"):
        await inventory.stock.commit_reservation(SERVICE, "old-3", other.id)
    found = await inventory.store.stock.get_reservation("old-3")
    assert found is not None
    assert found.product_id == product.id


async def test_the_layout_step_moves_live_entries_drops_dead_ones_and_deletes_the_hash(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    stock, redis, now = inventory.stock, inventory.store.redis, inventory.clock.now
    await stock.reserve_stock(SERVICE, product.id, 1, "held", ttl_ms=10 * MINUTE)
    await stock.reserve_stock(SERVICE, product.id, 1, "sold")
    await stock.commit_reservation(SERVICE, "sold", product.id)
    await stock.reserve_stock(SERVICE, product.id, 1, "long-gone")
    for rid in ("held", "sold", "long-gone"):
        await _as_before(inventory, rid, product.id)
    await redis.delete(store_keys.reservation(product.id, "long-gone"))
    await redis.hset(OLD, "never-held", product.id)  # a claim whose hold was refused

    assert await store_layout_owners.move_owners(redis, now) == (2, 2)
    assert not await redis.exists(OLD)
    held_ttl = await redis.pttl(store_keys.reservation_product("held"))
    assert 10 * MINUTE + 2 * DAY_MS - MINUTE < held_ttl <= 10 * MINUTE + 2 * DAY_MS
    kept = await redis.pttl(store_keys.reservation(product.id, "sold"))
    sold_ttl = await redis.pttl(store_keys.reservation_product("sold"))
    assert abs(sold_ttl - (kept + CLAIM_GRACE_MS)) < MINUTE  # its own time left, and the grace
    for rid in ("long-gone", "never-held"):
        assert not await redis.exists(store_keys.reservation_product(rid))
    assert (await stock.commit_reservation(SERVICE, "held")).product_id == product.id

    assert await store_layout_owners.move_owners(redis, now) == (0, 0)  # twice: no harm
    assert await redis.get(store_keys.reservation_product("held")) == product.id.encode()


async def test_a_start_moves_the_old_hash_at_layout_4_and_whenever_it_is_back(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    redis = inventory.store.redis
    await inventory.stock.reserve_stock(SERVICE, product.id, 1, "before")
    await _as_before(inventory, "before", product.id)
    await redis.set(store_keys.INDEX_VERSION, 4)

    restarted = build_inventory(redis, inventory.clock)
    await restarted.store.layout.ready()
    assert await redis.get(store_keys.INDEX_VERSION) == b"5"
    assert not await redis.exists(OLD)
    assert await redis.get(store_keys.reservation_product("before")) == product.id.encode()
    assert await redis.pttl(store_keys.reservation_product("before")) > 2 * DAY_MS - MINUTE

    # An instance of the older version, still running in a rolling deploy, claims one more.
    await restarted.stock.reserve_stock(SERVICE, product.id, 1, "during")
    await _as_before(inventory, "during", product.id)
    await build_inventory(redis, inventory.clock).store.layout.ready()
    assert not await redis.exists(OLD)
    assert await redis.get(store_keys.reservation_product("during")) == product.id.encode()


async def test_a_reservation_moved_from_layout_3_is_claimed_for_its_product(
    inventory: Inventory,
) -> None:
    product = await inventory.product(quantity=5)
    redis, now = inventory.store.redis, inventory.clock.now
    fields = {"id": "layout-3", "product_id": product.id, "quantity": 1, "unit_price_minor": 1000}
    fields |= {"state": "HELD", "created_at": now, "expires_at": now + 10 * MINUTE}
    await redis.hset(f"{store_keys.PREFIX}:reservation:layout-3", mapping=fields)  # type: ignore[arg-type]
    assert await store_layout_buckets.move_reservations(redis, now) == 1
    claim = store_keys.reservation_product("layout-3")
    assert await redis.get(claim) == product.id.encode()
    assert await redis.pttl(claim) > 10 * MINUTE + 2 * DAY_MS - MINUTE
    assert not await redis.exists(OLD)
    assert (await inventory.stock.commit_reservation(SERVICE, "layout-3")).quantity == 1


def _entry(product_id: str, reservation_id: str) -> ReserveEntry:
    return ReserveEntry(product_id, 1, reservation_id, None, "")

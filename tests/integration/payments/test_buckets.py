"""Sweeps split between instances by bucket leases, the indexer of the admin listings, and the
orders, cards and listings of a user from before buckets next to their new ones."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from estore.common.auth import Caller
from estore.common.redis import RedisClient
from estore.payments.buckets import BUCKETS, LEGACY, bucket_of_id, bucket_of_user
from estore.payments.cards import CardInput, validate_card
from estore.payments.indexer import GROUP, Indexer
from estore.payments.keys import events_key
from estore.payments.models import Order, OrderStatus, PaymentMethod
from estore.payments.recovery import Recovery
from estore.payments.rules import order_id_for
from estore.payments.sweep_leases import BucketLeases
from tests.integration.payments.conftest import ADMIN, BUYER, Payments
from tests.integration.payments.test_legacy_orders import paid_old_order

LEASE = 1.0


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)  # past every hold


async def stuck_orders(p: Payments, users: range) -> list[Order]:
    """One unpaid order per user whose hold has lapsed: due in each user's bucket."""
    orders = []
    for user_id in users:
        reservation = await p.inventory.reserve("tea", 1, f"r{user_id}", 900)
        order = p.saga._new_order(order_id_for(user_id, ""), user_id, reservation, None)
        await p.store.create_order(order, processing_until_ms=None)
        orders.append(order)
    return orders


def sweeper(p: Payments, leases: BucketLeases) -> Recovery:
    return Recovery(p.store, p.saga, p.refunds, 1, leases, retry_seconds=30, clock=later)


async def test_two_instances_share_the_buckets_and_one_takes_over_a_dead_ones(
    payments: Payments, redis: RedisClient
) -> None:
    payments.inventory.available["tea"] = 1000
    first, second = BucketLeases(redis, LEASE, "first"), BucketLeases(redis, LEASE, "second")
    await first.renew()  # alone: it holds every range
    await second.renew()  # two live instances: nothing free yet
    await first.renew()  # gives back what is above its half
    await second.renew()  # and the other takes it
    mine, theirs = set(await first.buckets()), set(await second.buckets())
    assert mine
    assert theirs
    assert not mine & theirs
    assert mine | theirs == {LEGACY, *range(BUCKETS)}

    orders = await stuck_orders(payments, range(1, 61))
    handled = [
        await sweeper(payments, first).run_once(),
        await sweeper(payments, second).run_once(),
    ]
    assert min(handled) > 0  # both swept, each its own buckets
    assert sum(handled) == 60
    expected = {bucket_of_id(o.id) for o in orders}
    assert expected & mine
    assert expected & theirs

    # The first instance dies (stops renewing): the second takes its buckets within one lease.
    orders = await stuck_orders(payments, range(101, 161))
    died = time.monotonic()
    while len(await second.buckets()) < BUCKETS + 1:
        assert time.monotonic() - died < LEASE + LEASE / 3 + 0.5, "not taken over in a lease"
        await second.renew()
    assert await sweeper(payments, second).run_once() == 60
    for order in orders:
        settled = await payments.store.get_order(order.id)
        assert settled is not None
        assert settled.status is OrderStatus.CANCELLED


async def test_the_admin_listing_follows_the_events_and_never_goes_back(
    payments: Payments, redis: RedisClient
) -> None:
    payments.inventory.available["tea"] = 100
    indexer = Indexer(redis, BucketLeases(redis, 30))
    buyers = [Caller(user_id=i, is_verified=True) for i in range(1, 6)]
    made = [await payments.service.create_order(b, "tea", 1, "", "") for b in buyers]
    assert (await payments.service.list_orders(ADMIN, None, 0, 50, ""))[0] == []  # not yet
    assert await indexer.run_once() == 5
    assert 0 <= indexer.lag_ms < 5000
    listed = await payments.service.list_orders(ADMIN, OrderStatus.PENDING, 0, 50, "")
    assert {o.id for o in listed[0]} == {o.id for o in made}

    await payments.service.cancel_order(buyers[0], made[0].id, "")
    assert await indexer.run_once() == 1
    pending = await payments.service.list_orders(ADMIN, OrderStatus.PENDING, 0, 50, "")
    cancelled = await payments.service.list_orders(ADMIN, OrderStatus.CANCELLED, 0, 50, "")
    assert made[0].id not in {o.id for o in pending[0]}
    assert [o.id for o in cancelled[0]] == [made[0].id]
    # An event seen again, or an older one, changes nothing.
    assert await indexer.apply([(made[0].id, "1", "PENDING", f"0:{made[0].id}")]) == 0
    cancelled = await payments.service.list_orders(ADMIN, OrderStatus.CANCELLED, 0, 50, "")
    assert [o.id for o in cancelled[0]] == [made[0].id]


async def test_events_a_dead_indexer_read_but_never_applied_are_taken_over(
    payments: Payments, redis: RedisClient
) -> None:
    order = await payments.service.create_order(BUYER, "tea", 1, "", "")
    stream = events_key(bucket_of_user(BUYER.user_id or 0))
    await redis.xgroup_create(stream, GROUP, id="0")
    assert await redis.xreadgroup(GROUP, "dead", {stream: ">"})  # read, never acknowledged
    indexer = Indexer(redis, BucketLeases(redis, 30))
    assert await indexer.run_once() == 1
    listed = await payments.service.list_orders(ADMIN, None, 0, 50, "")
    assert [o.id for o in listed[0]] == [order.id]
    assert (await redis.xpending(stream, GROUP))["pending"] == 0


async def test_a_users_old_orders_and_cards_serve_next_to_their_new_ones(
    payments: Payments, redis: RedisClient
) -> None:
    await paid_old_order(payments, "old7")  # written as before buckets, with an old card
    old_card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    new_card = await payments.service.add_card(BUYER, old_card, "")
    assert bucket_of_id(new_card.id) == bucket_of_user(BUYER.user_id or 0)
    fresh = await payments.service.create_order(BUYER, "tea", 1, new_card.id, "r-1")
    mine, _ = await payments.service.list_orders(BUYER, None, 0, 50, "")
    assert [o.id for o in mine] == [fresh.id, "old7"]  # newest first, over both slots
    await Indexer(redis, BucketLeases(redis, 30)).run_once()  # copies the old admin listing
    everyone, _ = await payments.service.list_orders(ADMIN, OrderStatus.PAID, 0, 50, "")
    assert {o.id for o in everyone} == {fresh.id, "old7"}


async def test_a_card_saved_before_buckets_still_lists_and_pays(
    payments: Payments, redis: RedisClient
) -> None:
    card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    token = await payments.processor.tokenize(card)
    summary = validate_card(card, date.today())
    created = datetime.now(UTC) - timedelta(days=30)
    old = PaymentMethod("5f0c1e2d3b4a59687766554433221100", 1, summary, token, created)
    await payments.store.add_method(old)  # an id without a bucket: the old keys, under {pay}
    assert await redis.exists("pay:{pay}:pm:5f0c1e2d3b4a59687766554433221100")
    new = await payments.service.add_card(BUYER, card, "")
    listed, _ = await payments.service.list_methods(BUYER, 50, "")
    assert [m.id for m in listed] == [old.id, new.id]  # oldest first, over both slots
    # The old card is read apart from the request's claim (another slot on a cluster).
    order = await payments.service.create_order(BUYER, "tea", 1, old.id, "with-old-card")
    assert order.status is OrderStatus.PAID
    assert order.payment_method_id == old.id


async def test_a_pass_spreads_its_reads_over_the_time_it_is_given(
    payments: Payments, redis: RedisClient
) -> None:
    """The background pass reads a thousand buckets in paced chunks, not in one burst that
    would hold up the calls sharing its core; what it settles is the same."""
    payments.inventory.available["tea"] = 100
    leases = BucketLeases(redis, LEASE, "alone")
    await stuck_orders(payments, range(1, 4))
    started = time.monotonic()
    assert await sweeper(payments, leases).run_once(spread_over=0.8) == 3
    paced = time.monotonic() - started
    assert paced >= 0.8 * (1 - 1 / 9)  # 1,025 buckets in 9 chunks: 8 pauses of 0.8 / 9 s

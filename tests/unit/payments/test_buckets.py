"""A user's bucket is fixed for ever, and ids say which bucket (or the legacy slot) they are in."""

from __future__ import annotations

import zlib

from estore.payments.buckets import (
    BUCKETS,
    LEGACY,
    bucket_of_id,
    bucket_of_user,
    new_id,
    ranges,
    tag,
)
from estore.payments.keys import idempotency_prefix, order_key
from estore.payments.rules import method_id_for, order_id_for


def test_the_bucket_of_a_user_is_crc32_of_the_id_modulo_1024() -> None:
    assert BUCKETS == 1024
    assert bucket_of_user(1) == zlib.crc32(b"1") % 1024 == 951  # fixed for ever
    assert bucket_of_user(123456) == zlib.crc32(b"123456") % 1024


def test_new_ids_carry_their_owners_bucket() -> None:
    for user_id in (1, 2, 99, 10**9):
        bucket = bucket_of_user(user_id)
        assert bucket_of_id(order_id_for(user_id, "")) == bucket
        assert bucket_of_id(order_id_for(user_id, "request-1")) == bucket
        assert bucket_of_id(method_id_for(user_id)) == bucket
    assert order_id_for(7, "r") == order_id_for(7, "r")  # a retry finds its order


def test_ids_made_before_buckets_are_legacy() -> None:
    assert bucket_of_id("0d8b3e3b8f6c4c1e9d2a7b5c4e3f2a1b") == LEGACY
    assert bucket_of_id("old1") == LEGACY
    assert bucket_of_id("9999_abc") == LEGACY  # no such bucket
    assert order_key("old1") == "pay:{pay}:order:old1"
    assert order_key(new_id(17, "x")) == "pay:{pay:17}:order:0017_x"


def test_a_users_request_ids_live_in_their_bucket() -> None:
    assert idempotency_prefix("user:1:create_order") == f"{tag(bucket_of_user(1))}:idem"
    assert idempotency_prefix("admin:99:refund") == f"{tag(bucket_of_user(99))}:idem"


def test_the_sweep_ranges_cover_every_bucket_once_and_the_legacy_slot() -> None:
    covered = [bucket for span in ranges() for bucket in span]
    assert sorted(covered) == [LEGACY, *range(BUCKETS)]

"""Payments' key names: each order's and user's under their bucket's tag (buckets.py), the
admin-wide listings under `{pay:ix}`, and the slot of ids made before buckets under `{pay}`."""

from __future__ import annotations

from estore.payments.buckets import (
    BUCKETS,
    LEGACY,
    RANGE,
    bucket_of_id,
    bucket_of_user,
    id_tag,
    tag,
    user_tag,
)
from estore.payments.models import OrderStatus

P = tag(LEGACY)  # the slot before buckets: legacy orders, and process-wide settings
IX = "pay:{pay:ix}"  # admin-wide order listings, kept by the indexer from the events
WHICH = ("processing", "expiring", "refunds", "creating")  # the lease indexes of each bucket


def due_key(bucket: int, which: str) -> str:
    """A bucket's index of work recovery finishes when its owner stops renewing the lease:
    processing (orders being charged), expiring (unpaid orders by their hold's end), refunds
    (decided, not settled: "<order id>:<refund id>"), creating (baskets being reserved)."""
    names = {
        "processing": "orders:processing",
        "expiring": "orders:expiring",
        "refunds": "refunds:in-progress",
        "creating": "orders:creating",
    }
    return f"{tag(bucket)}:{names[which]}"


DUE = {which: due_key(LEGACY, which) for which in WHICH}  # the legacy slot's


def due_key_of(which: str, member: str) -> str:
    """The lease index holding `member` (an order id, or "<order id>:<refund id>")."""
    return due_key(bucket_of_id(member), which)


def events_key(bucket: int) -> str:
    """A bucket's stream of order changes, read by the indexer."""
    return f"{tag(bucket)}:events"


DOORBELL = f"{IX}:rung"  # buckets whose streams have new events: member bucket, score range


def range_of(bucket: int) -> int:
    """The index of a bucket's range in buckets.ranges() (the legacy slot's is the last)."""
    return BUCKETS // RANGE if bucket == LEGACY else bucket // RANGE


def order_key(order_id: str) -> str:
    return f"{id_tag(order_id)}:order:{order_id}"


def refund_states_key(order_id: str) -> str:
    """Hash: refund id -> its RefundState, and "<refund id>:units" -> the units it restocks."""
    return f"{order_key(order_id)}:refund-states"


def method_key(method_id: str) -> str:
    return f"{id_tag(method_id)}:pm:{method_id}"


def methods_index(user_id: int, bucket: int | None = None) -> str:
    """A user's payment methods, in their bucket (or in the legacy slot)."""
    place = bucket_of_user(user_id) if bucket is None else bucket
    return f"{tag(place)}:user:{user_id}:pms"


def index(user_id: int | None, status: OrderStatus | None, bucket: int | None = None) -> str:
    """A listing of orders: a user's (in their bucket, or `bucket`), or the admin-wide one."""
    if user_id is None:
        owner = f"{IX}:orders"
    else:
        place = bucket_of_user(user_id) if bucket is None else bucket
        owner = f"{tag(place)}:user:{user_id}:orders"
    return f"{owner}:{status.value}" if status is not None else owner


def legacy_admin_index(status: OrderStatus | None) -> str:
    """The admin-wide listing as kept before the indexer (copied once by the indexer)."""
    return f"{P}:orders:{status.value}" if status is not None else f"{P}:orders"


def idempotency_prefix(scope: str) -> str:
    """Request ids live in the caller's bucket: scopes are `user:<id>:...` or `admin:<id>:...`."""
    return f"{user_tag(int(scope.split(':')[1]))}:idem"

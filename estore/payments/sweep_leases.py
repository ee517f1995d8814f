"""Payments' bucket leases (estore.common.sweep_leases): the user buckets' ranges and the
legacy slot's own, leased under the legacy `{pay}` slot."""

from __future__ import annotations

from estore.common import sweep_leases
from estore.common.redis import RedisClient
from estore.payments.buckets import ranges
from estore.payments.keys import P


class BucketLeases(sweep_leases.BucketLeases):
    """This Payments instance's sweep leases."""

    def __init__(
        self, redis: RedisClient, lease_seconds: float, instance: str | None = None
    ) -> None:
        super().__init__(redis, lease_seconds, instance, prefix=P, ranges=ranges())

"""Wires PaymentService to its Redis, the card processor and InventoryService."""

from __future__ import annotations

import logging

from estore.common.config import Settings
from estore.common.idempotency import Idempotency
from estore.common.metrics import Sample
from estore.common.paging import PageTokens
from estore.common.redis import (
    RedisProbe,
    check_topology_at_start,
    connect_redis,
    connection_samples,
    shared_secret,
)
from estore.common.runtime import follow_revocations, service_token
from estore.common.server import ServiceDefinition
from estore.payments.indexer import Indexer
from estore.payments.inventory_client import InventoryClient
from estore.payments.keys import P, idempotency_prefix
from estore.payments.processor import Processor, SimulatedProcessor
from estore.payments.recovery import Recovery
from estore.payments.refund_saga import RefundSaga
from estore.payments.rules import Inventory, PaymentsConfig
from estore.payments.saga import OrderSaga
from estore.payments.service import PaymentService
from estore.payments.servicer import PaymentServicer
from estore.payments.store import PaymentStore
from estore.payments.store_refunds import RefundStore
from estore.payments.sweep_leases import BucketLeases
from generated.estore.payments.v1 import payment_service_pb2 as payments_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as payments_grpc

log = logging.getLogger("estore.payments")
FULL_NAME = payments_pb.DESCRIPTOR.services_by_name["PaymentService"].full_name
# The largest request the spec allows is a 50-line CreateOrder or RefundOrder (about 7 KiB
# with 128-character ids); 64 KiB leaves room to grow and refuses anything bigger unread.
MAX_MESSAGE_BYTES = 64 * 1024


def _inventory_client(settings: Settings) -> InventoryClient:
    return InventoryClient.connect(
        settings.inventory_target,
        service_token(settings, "payments"),
        deadline_cap_seconds=settings.inventory_deadline_seconds,
        credentials=settings.tls.channel_credentials(),
    )


async def create_service(
    settings: Settings,
    *,
    inventory: Inventory | None = None,
    processor: Processor | None = None,
) -> ServiceDefinition:
    """Connect, run a recovery pass, start the sweeper, follow revocations, build the service."""
    redis = connect_redis(
        settings.payments_redis_url,
        "ESTORE_PAYMENTS_REDIS_URL",
        max_connections=settings.redis_max_connections,
        pool_timeout=settings.pool_timeout_seconds,
    )
    await check_topology_at_start(redis, "ESTORE_PAYMENTS_REDIS_URL")
    probe = RedisProbe(redis, "ESTORE_PAYMENTS_REDIS_URL")
    client = _inventory_client(settings) if inventory is None else None
    inventory = inventory or client
    assert inventory is not None
    processor = processor or SimulatedProcessor(
        redis, latency_seconds=settings.payments_processor_latency_seconds
    )
    store = PaymentStore(redis)
    idempotency = Idempotency(redis, idempotency_prefix, wait_seconds=10.0)
    config = PaymentsConfig(
        currency=settings.currency,
        fee_bps=settings.payments_fee_bps,
        reservation_ttl_seconds=settings.reservation_ttl_seconds,
        lease_seconds=settings.payments_lease_seconds,
    )
    saga = OrderSaga(store, inventory, processor, idempotency, config)
    refunds = RefundSaga(store, RefundStore(redis), inventory, processor, config)
    secret = await shared_secret(redis, f"{P}:page-token-secret", settings.page_token_secret)
    service = PaymentService(
        store, saga, refunds, inventory, processor, idempotency, PageTokens(secret)
    )
    interval = settings.payments_sweep_interval_seconds
    leases = BucketLeases(redis, lease_seconds=max(3 * interval, 1.0))
    recovery = Recovery(
        store, saga, refunds, interval, leases, retry_seconds=settings.payments_lease_seconds
    )
    recovery.start()  # its first pass finishes what a crashed instance left half done
    indexer = Indexer(redis, leases)
    indexer.start()
    revocations, stop_following = await follow_revocations(settings, "payments")

    async def close() -> None:
        await stop_following()
        await recovery.stop()
        await indexer.stop()
        await leases.release()
        if client is not None:
            await client.close()
        await probe.close()
        await redis.aclose()

    async def sampler() -> list[Sample]:
        counts = await store.count_by_status()
        orders = [
            Sample("estore_orders", "Orders, by status", n, {"status": status.value})
            for status, n in counts.items()
        ]
        return orders + indexer.samples() + connection_samples(redis) + revocations.samples()

    servicer = PaymentServicer(service, settings.currency)
    return ServiceDefinition(
        name="payments",
        full_name=FULL_NAME,
        register=lambda server: payments_grpc.add_PaymentServiceServicer_to_server(
            servicer, server
        ),
        probe=probe,
        on_stop=(close,),
        sampler=sampler,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        max_message_bytes=settings.max_message_bytes or MAX_MESSAGE_BYTES,
        revocations=revocations,
    )

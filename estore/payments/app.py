"""Wires PaymentService to its Redis."""

from __future__ import annotations

from estore.common.config import Settings
from estore.common.redis import connect_redis, redis_probe
from estore.common.server import ServiceDefinition
from estore.payments.servicer import PaymentServicer
from generated.estore.payments.v1 import payment_service_pb2 as payments_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as payments_grpc

FULL_NAME = payments_pb.DESCRIPTOR.services_by_name["PaymentService"].full_name


async def create_service(settings: Settings) -> ServiceDefinition:
    """Connect to Redis (lazily) and build the service."""
    redis = connect_redis(settings.payments_redis_url, "ESTORE_PAYMENTS_REDIS_URL")
    servicer = PaymentServicer()
    return ServiceDefinition(
        name="payments",
        full_name=FULL_NAME,
        register=lambda server: payments_grpc.add_PaymentServiceServicer_to_server(
            servicer, server
        ),
        probe=redis_probe(redis),
        on_stop=(redis.aclose,),
    )

"""Wires InventoryService to its Redis."""

from __future__ import annotations

from estore.common.config import Settings
from estore.common.redis import connect_redis, redis_probe
from estore.common.server import ServiceDefinition
from estore.inventory.servicer import InventoryServicer
from generated.estore.inventory.v1 import inventory_service_pb2 as inventory_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

FULL_NAME = inventory_pb.DESCRIPTOR.services_by_name["InventoryService"].full_name


async def create_service(settings: Settings) -> ServiceDefinition:
    """Connect to Redis (lazily) and build the service."""
    redis = connect_redis(settings.inventory_redis_url, "ESTORE_INVENTORY_REDIS_URL")
    servicer = InventoryServicer()
    return ServiceDefinition(
        name="inventory",
        full_name=FULL_NAME,
        register=lambda server: inventory_grpc.add_InventoryServiceServicer_to_server(
            servicer, server
        ),
        probe=redis_probe(redis),
        on_stop=(redis.aclose,),
    )

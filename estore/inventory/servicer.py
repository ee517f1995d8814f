"""InventoryService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc


class InventoryServicer(inventory_grpc.InventoryServiceServicer):
    """Every RPC answers UNIMPLEMENTED until it is built."""

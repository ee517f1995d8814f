"""The three services by name: how to build each and where it listens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from estore.common.config import Settings
from estore.common.server import ServiceDefinition
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments
from estore.users.app import create_service as create_users


@dataclass(frozen=True)
class ServiceEntry:
    """How the CLI starts one service."""

    create: Callable[[Settings], Awaitable[ServiceDefinition]]
    port: Callable[[Settings], int]
    metrics_port: Callable[[Settings], int]


# The Settings fields holding each service's gRPC and metrics ports.
PORT_FIELDS = {
    "users": ("users_port", "users_metrics_port"),
    "inventory": ("inventory_port", "inventory_metrics_port"),
    "payments": ("payments_port", "payments_metrics_port"),
}

SERVICES: dict[str, ServiceEntry] = {
    "users": ServiceEntry(create_users, lambda s: s.users_port, lambda s: s.users_metrics_port),
    "inventory": ServiceEntry(
        create_inventory, lambda s: s.inventory_port, lambda s: s.inventory_metrics_port
    ),
    "payments": ServiceEntry(
        create_payments, lambda s: s.payments_port, lambda s: s.payments_metrics_port
    ),
}

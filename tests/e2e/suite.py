"""All three real services in this process, on port 0, wired as in production."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer, ServiceDefinition
from estore.inventory.app import create_service as create_inventory
from estore.payments.app import create_service as create_payments
from estore.users.app import create_service as create_users
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

ADMIN_EMAIL = "admin@shop.example"
ADMIN_PASSWORD = "admin-password"


@dataclass
class Suite:
    settings: Settings
    users: users_grpc.UserServiceStub
    inventory: inv_grpc.InventoryServiceStub
    payments: pay_grpc.PaymentServiceStub
    # "host:port" of each service, for clients outside this process.
    targets: dict[str, str]
    servers: list[GrpcServer]  # users, inventory, payments


@asynccontextmanager
async def running_suite(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    **env: str,
) -> AsyncIterator[Suite]:
    """Users, Inventory and Payments (which reaches Inventory over gRPC), stopped afterwards.

    Inventory and Payments follow the revocation feed of this UserService, as in production.
    """
    settings = Settings.from_env(
        {
            "ESTORE_DATA_DIR": str(tmp_path),
            "ESTORE_USERS_DATABASE_URL": database_url,
            "ESTORE_REDIS_URL": redis_url,
            "ESTORE_BCRYPT_ROUNDS": "4",
            "ESTORE_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "ESTORE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **env,
        }
    )
    servers: list[GrpcServer] = []
    channels: list[grpc.aio.Channel] = []

    async def start(definition: ServiceDefinition) -> grpc.aio.Channel:
        server = GrpcServer(definition, verifier)
        servers.append(server)
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}"))
        return channels[-1]

    try:
        users = users_grpc.UserServiceStub(await start(await create_users(settings, issuer=issuer)))
        settings = dataclasses.replace(
            settings,
            users_target=f"127.0.0.1:{servers[-1].port}",
            service_token=issuer.mint_service_token("payments", ttl_seconds=600).token,
        )
        inventory = inv_grpc.InventoryServiceStub(await start(await create_inventory(settings)))
        settings = dataclasses.replace(settings, inventory_target=f"127.0.0.1:{servers[-1].port}")
        payments = pay_grpc.PaymentServiceStub(await start(await create_payments(settings)))
        names = ("users", "inventory", "payments")
        targets = {name: f"127.0.0.1:{s.port}" for name, s in zip(names, servers, strict=True)}
        yield Suite(settings, users, inventory, payments, targets, servers)
    finally:
        for channel in channels:
            await channel.close()
        for server in reversed(servers):
            await server.stop(grace=0)

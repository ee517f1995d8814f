"""Wires UserService to its PostgreSQL pool."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from estore.common.config import ConfigError, Settings
from estore.common.server import ServiceDefinition
from estore.users.servicer import UserServicer
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

FULL_NAME = users_pb.DESCRIPTOR.services_by_name["UserService"].full_name


async def create_service(settings: Settings) -> ServiceDefinition:
    """Open the pool (without waiting for the database) and build the service."""
    if not settings.users_database_url:
        raise ConfigError(
            "ESTORE_USERS_DATABASE_URL is not set (or use `estore up`, which runs its own)"
        )
    pool = AsyncConnectionPool(
        settings.users_database_url,
        open=False,
        min_size=1,
        max_size=10,
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=False)

    async def probe() -> bool:
        async with pool.connection(timeout=2) as connection:
            await connection.execute("SELECT 1")
        return True

    servicer = UserServicer()
    return ServiceDefinition(
        name="users",
        full_name=FULL_NAME,
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(servicer, server),
        probe=probe,
        on_stop=(pool.close,),
    )

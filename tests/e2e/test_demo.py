"""`estore seed-demo` fills a running suite with a catalogue and a verified demo user."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.demo import CATALOGUE, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from estore.embedded.ports import free_port
from estore.inventory.app import create_service as create_inventory
from estore.users.app import create_service as create_users
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc


async def test_seed_demo_through_the_public_rpcs(
    tmp_path: Path,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    settings = Settings.from_env(
        {
            "ESTORE_DATA_DIR": str(tmp_path),
            "ESTORE_USERS_DATABASE_URL": users_database_url,
            "ESTORE_REDIS_URL": redis_url,
            "ESTORE_BCRYPT_ROUNDS": "4",
            "ESTORE_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
            "ESTORE_BOOTSTRAP_ADMIN_PASSWORD": "admin-password",
        }
    )
    users_port, inventory_port = free_port(), free_port()
    settings = dataclasses.replace(
        settings,
        users_port=users_port,
        inventory_port=inventory_port,
        users_target=f"localhost:{users_port}",
        service_token=token_issuer.mint_service_token("inventory", ttl_seconds=600).token,
    )
    users = GrpcServer(
        await create_users(settings, issuer=token_issuer), token_verifier, port=settings.users_port
    )
    await users.start()  # first, as `estore up` does: Inventory reads its revocation feed
    inventory = GrpcServer(
        await create_inventory(settings), token_verifier, port=settings.inventory_port
    )
    await inventory.start()
    try:
        summary = await seed_demo(settings)
        expected = sum(len(items) for subs in CATALOGUE.values() for items in subs.values())
        assert summary.products == expected >= 45
        assert summary.categories == 3 + sum(len(subs) for subs in CATALOGUE.values())
        assert "verified" in summary.demo_user
        again = await seed_demo(settings)  # a second run changes nothing
        assert again.products == 0

        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.inventory_port}") as channel:
            stub = inv_grpc.InventoryServiceStub(channel)
            everything = await stub.ListProducts(inv_pb.ListProductsRequest(page_size=500))
            assert len(everything.products) == expected
            low = await stub.ListProducts(
                inv_pb.ListProductsRequest(filter=inv_pb.ProductFilter(low_stock=True))
            )
            assert low.products
            assert any(p.discount_percentage for p in everything.products)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.users_port}") as channel:
            login = await users_grpc.UserServiceStub(channel).Login(
                users_pb.LoginRequest(email=DEMO_EMAIL, password=DEMO_PASSWORD)
            )
            assert login.user.is_verified
    finally:
        await users.stop(grace=0)
        await inventory.stop(grace=0)

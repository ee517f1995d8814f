"""Payments SIGKILLed between reserve and charge: a restarted Payments settles the order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from redis.asyncio import Redis

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.embedded.ports import free_port
from estore.inventory.app import create_service as create_inventory
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.helpers import bearer

BIN = Path(sys.executable).parent


class PaymentsProcess:
    """`estore serve payments` as a child process the test can kill."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["ESTORE_PAYMENTS_PORT"])
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **overrides: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "estore"), "serve", "payments"],
            env={**self._env, **overrides},
            stdout=subprocess.DEVNULL,
            stderr=self._log.open("ab"),
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


async def wait_until_serving(port: int) -> None:
    deadline = time.monotonic() + 30
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(channel.channel_ready(), 1)
                return
            except TimeoutError:
                continue
    raise AssertionError(f"payments never listened on {port}")


@pytest.fixture
def payments_env(
    tmp_path: Path, redis_url: str, signing_key, token_issuer: TokenIssuer, feed_env
) -> dict[str, str]:
    public = tmp_path / "jwt_public.pem"
    public.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {
        **os.environ,
        "ESTORE_DATA_DIR": str(tmp_path),
        "ESTORE_REDIS_URL": redis_url,
        "ESTORE_HOST": "127.0.0.1",
        "ESTORE_PAYMENTS_PORT": str(free_port()),
        "ESTORE_JWT_PUBLIC_KEY_FILE": str(public),
        "ESTORE_SERVICE_TOKEN": token_issuer.mint_service_token("payments", ttl_seconds=600).token,
        "ESTORE_PAYMENTS_LEASE_SECONDS": "1",
        "ESTORE_PAYMENTS_SWEEP_INTERVAL_SECONDS": "0.2",
        **feed_env,
    }


async def test_killed_between_reserve_and_charge(
    payments_env: dict[str, str],
    tmp_path: Path,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    feed_env: dict[str, str],
) -> None:
    inventory = GrpcServer(
        await create_inventory(Settings.from_env({"ESTORE_REDIS_URL": redis_url, **feed_env})),
        token_verifier,
    )
    inventory_port = await inventory.start()
    payments_env["ESTORE_INVENTORY_TARGET"] = f"127.0.0.1:{inventory_port}"
    admin = bearer(
        token_issuer.issue_access_token(9, is_admin=True, is_verified=True, ttl_seconds=600).token
    )
    buyer = bearer(
        token_issuer.issue_access_token(1, is_admin=False, is_verified=True, ttl_seconds=600).token
    )
    payments = PaymentsProcess(payments_env, tmp_path / "payments.log")
    redis = Redis.from_url(redis_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{inventory_port}") as channel:
            stock = inv_grpc.InventoryServiceStub(channel)
            product = inv_pb.Product(
                name="Kettle",
                quantity=5,
                price=money_pb2.Money(currency_code="USD", minor_units=2500),
            )
            product_id = (
                await stock.CreateProduct(
                    inv_pb.CreateProductRequest(product=product), metadata=admin
                )
            ).product.id

            # The processor answers slowly, so the kill lands between reserve and charge.
            payments.start(ESTORE_PAYMENTS_PROCESSOR_LATENCY_SECONDS="2")
            await wait_until_serving(payments.port)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{payments.port}") as pay_channel:
                stub = pay_grpc.PaymentServiceStub(pay_channel)
                card = pay_pb.Card(
                    number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
                )
                method = (
                    await stub.AddPaymentMethod(
                        pay_pb.AddPaymentMethodRequest(
                            type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card
                        ),
                        metadata=buyer,
                    )
                ).payment_method.id
                call = stub.CreateOrder(
                    pay_pb.CreateOrderRequest(
                        product_id=product_id, quantity=2, payment_method_id=method
                    ),
                    metadata=buyer,
                )
                order_key = await _wait_for_processing_order(redis)
                assert await _stock(stock, product_id) == (3, 2)
                payments.kill()
                with pytest.raises(grpc.aio.AioRpcError):
                    await call

            payments.start()
            status = await _wait_for_settled(redis, order_key)
            charged = [k async for k in redis.scan_iter(match="sim:{sim}:charge:*")]
            if charged:
                assert status == b"PAID"
                assert await _stock(stock, product_id) == (3, 0)
            else:
                assert status == b"CANCELLED"
                assert await _stock(stock, product_id) == (5, 0)
    finally:
        payments.kill()
        await redis.aclose()
        await inventory.stop(grace=0)


async def _stock(stub: inv_grpc.InventoryServiceStub, product_id: str) -> tuple[int, int]:
    product = (await stub.GetProduct(inv_pb.GetProductRequest(product_id=product_id))).product
    return product.quantity, product.reserved


async def _wait_for_processing_order(redis: Redis) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async for key in redis.scan_iter(match="pay:{pay}:order:*"):
            if key.count(b":") == 3 and await redis.hget(key, "payment_status") == b"PROCESSING":
                return bytes(key)
        await asyncio.sleep(0.02)
    raise AssertionError("no order reached PROCESSING")


async def _wait_for_settled(redis: Redis, order_key: bytes) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, payment = await redis.hmget(order_key, ["status", "payment_status"])
        if payment != b"PROCESSING" and status in (b"PAID", b"CANCELLED"):
            return bytes(status)
        await asyncio.sleep(0.1)
    raise AssertionError("the restarted Payments did not settle the order")

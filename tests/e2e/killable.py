"""A real Inventory in this process and `estore serve payments` as a child the test can SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from redis.asyncio import Redis

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.inventory.app import create_service as create_inventory
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.payments.v1 import payment_service_pb2 as pay_pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as pay_grpc
from tests.helpers import bearer

BIN = Path(sys.executable).parent
Metadata = tuple[tuple[str, str], ...]
FEED_SETTINGS = (
    "ESTORE_USERS_TARGET",
    "ESTORE_SERVICE_TOKEN",
    "ESTORE_REVOCATION_MAX_STALENESS_SECONDS",
)


class ServiceProcess:
    """`estore serve SERVICE` as a child process the test can kill."""

    def __init__(self, service: str, env: dict[str, str], log: Path) -> None:
        self.service = service
        self.port = int(env[f"ESTORE_{service.upper()}_PORT"])
        self._env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **overrides: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "estore"), "serve", self.service],
            env={**self._env, **overrides},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


class PaymentsProcess(ServiceProcess):
    """`estore serve payments` as a child process the test can kill."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__("payments", env, log)


async def wait_until_serving(payments: ServiceProcess) -> None:
    deadline = time.monotonic() + 30
    async with grpc.aio.insecure_channel(f"127.0.0.1:{payments.port}") as channel:
        while time.monotonic() < deadline:
            if payments.process is not None and payments.process.poll() is not None:
                break  # it died: its log says why
            try:
                await asyncio.wait_for(channel.channel_ready(), 1)
                return
            except TimeoutError:
                continue
    log = payments.log.read_text(errors="replace")[-2000:]
    raise AssertionError(f"{payments.service} never listened on {payments.port}:\n{log}")


@dataclass
class Rig:
    """Inventory, the Payments child process, a Redis client and callers' credentials."""

    stock: inv_grpc.InventoryServiceStub
    payments: PaymentsProcess
    redis: Redis
    admin: Metadata
    buyer: Metadata
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    async def product(self, quantity: int, price_minor: int = 2500) -> str:
        product = inv_pb.Product(
            name="Kettle",
            quantity=quantity,
            price=money_pb2.Money(currency_code="USD", minor_units=price_minor),
        )
        reply = await self.stock.CreateProduct(
            inv_pb.CreateProductRequest(product=product), metadata=self.admin
        )
        return str(reply.product.id)

    async def levels(self, product_id: str) -> tuple[int, int]:
        """(available, reserved) of a product."""
        request = inv_pb.GetProductRequest(product_id=product_id)
        product = (await self.stock.GetProduct(request)).product
        return int(product.quantity), int(product.reserved)

    async def start(self, **overrides: str) -> pay_grpc.PaymentServiceStub:
        """Start Payments and wait until it listens; a stub on a channel closed with the rig."""
        self.payments.start(**overrides)
        await wait_until_serving(self.payments)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.payments.port}")
        self.channels.append(channel)
        return pay_grpc.PaymentServiceStub(channel)

    async def card(self, stub: pay_grpc.PaymentServiceStub) -> str:
        card = pay_pb.Card(number="4242424242424242", exp_month=12, exp_year=2031, cvc="123")
        request = pay_pb.AddPaymentMethodRequest(type=pay_pb.PAYMENT_METHOD_TYPE_CARD, card=card)
        return str((await stub.AddPaymentMethod(request, metadata=self.buyer)).payment_method.id)


@asynccontextmanager
async def killable_payments(
    payments_env: dict[str, str],
    log: Path,
    redis_url: str,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
) -> AsyncIterator[Rig]:
    """A rig whose Payments is not started yet; everything is stopped and killed afterwards."""
    # Inventory follows the same revocation feed as the Payments child (payments_env has it).
    feed = {k: v for k, v in payments_env.items() if k in FEED_SETTINGS}
    inventory = GrpcServer(
        await create_inventory(Settings.from_env({"ESTORE_REDIS_URL": redis_url, **feed})),
        verifier,
    )
    inventory_port = await inventory.start()
    payments_env["ESTORE_INVENTORY_TARGET"] = f"127.0.0.1:{inventory_port}"

    def token(user_id: int, admin: bool) -> Metadata:
        minted = issuer.issue_access_token(
            user_id, is_admin=admin, is_verified=True, ttl_seconds=600
        )
        return bearer(minted.token)

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{inventory_port}")
    rig = Rig(
        stock=inv_grpc.InventoryServiceStub(channel),
        payments=PaymentsProcess(payments_env, log),
        redis=Redis.from_url(redis_url),
        admin=token(9, True),
        buyer=token(1, False),
    )
    rig.channels.append(channel)
    try:
        yield rig
    finally:
        rig.payments.kill()
        for open_channel in rig.channels:
            await open_channel.close()
        await rig.redis.aclose()
        await inventory.stop(grace=0)

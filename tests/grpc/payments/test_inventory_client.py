"""Payments' Inventory client: retries UNAVAILABLE with the same request, caps the deadline,
forwards the request id and the service token, and maps Inventory's errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from estore.common import context
from estore.common.errors import InvalidArgument
from estore.common.server import GrpcServer
from estore.common.tls import TlsFiles
from estore.payments.errors import InsufficientStock, InventoryBusy, InventoryUnavailable
from estore.payments.inventory_client import InventoryClient
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from tests.grpc.payments.conftest import fake_inventory
from tests.helpers import bearer
from tests.tls_certs import CertificateAuthority


class ScriptedInventory(inv_grpc.InventoryServiceServicer):
    """ReserveStock answers as the test scripts it, and records what it was sent."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def ReserveStock(
        self, request: pb.ReserveStockRequest, ctx: Any
    ) -> pb.ReserveStockResponse:
        self.seen.append((request.reservation_id, dict(ctx.invocation_metadata())))
        step = self.script.pop(0) if self.script else "ok"
        if step == "unavailable":
            await ctx.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        if step == "slow":
            await asyncio.sleep(5)
        if step == "invalid":
            raise InvalidArgument.field("quantity", "at most 10000")
        if step == "out-of-stock":
            from estore.common.errors import FailedPrecondition

            raise FailedPrecondition("no", reason="INSUFFICIENT_STOCK")
        reservation = pb.Reservation(
            id=request.reservation_id, product_id=request.product_id, quantity=request.quantity,
            unit_price=money_pb2.Money(currency_code="USD", minor_units=500),
            state=pb.RESERVATION_STATE_HELD,
        )  # fmt: skip
        return pb.ReserveStockResponse(reservation=reservation)

    async def AdjustStock(self, request: pb.AdjustStockRequest, ctx: Any) -> pb.AdjustStockResponse:
        from estore.common.errors import Aborted

        raise Aborted("still running", reason="REQUEST_IN_PROGRESS")


@pytest.fixture
async def inventory(token_verifier) -> AsyncIterator[tuple[ScriptedInventory, int]]:
    servicer = ScriptedInventory()
    definition = fake_inventory(servicer)
    server = GrpcServer(definition, token_verifier)
    port = await server.start()
    yield servicer, port
    await server.stop(grace=0)


def _client(port: int, token: str, cap: float = 5.0) -> InventoryClient:
    return InventoryClient.connect(f"127.0.0.1:{port}", token, deadline_cap_seconds=cap)


async def test_unavailable_is_retried_with_the_same_reservation(inventory, token_issuer) -> None:
    servicer, port = inventory
    token = token_issuer.mint_service_token("payments", ttl_seconds=60).token
    servicer.script = ["unavailable", "unavailable"]
    client = _client(port, token)
    context.request_id.set("trace-99")
    try:
        reservation = await client.reserve("p1", 2, "order-1", 900)
    finally:
        await client.close()
    assert reservation.unit_price_minor == 500
    assert [rid for rid, _ in servicer.seen] == ["order-1"] * 3
    _, metadata = servicer.seen[-1]
    assert metadata["x-request-id"] == "trace-99"
    assert (("authorization", metadata["authorization"]),) == bearer(token)


async def test_the_deadline_is_capped(inventory, token_issuer) -> None:
    servicer, port = inventory
    servicer.script = ["slow"]
    client = _client(port, token_issuer.mint_service_token("payments", ttl_seconds=60).token, 0.3)
    started = time.monotonic()
    try:
        with pytest.raises(InventoryUnavailable):
            await client.reserve("p1", 1, "order-2", 900)
    finally:
        await client.close()
    assert time.monotonic() - started < 2


async def test_inventory_errors_become_payments_errors(inventory, token_issuer) -> None:
    servicer, port = inventory
    servicer.script = ["out-of-stock"]
    client = _client(port, token_issuer.mint_service_token("payments", ttl_seconds=60).token)
    try:
        with pytest.raises(InsufficientStock):
            await client.reserve("p1", 1, "order-3", 900)
    finally:
        await client.close()


async def test_inventory_aborted_stays_aborted_and_is_no_error(
    inventory, token_issuer, caplog: pytest.LogCaptureFixture
) -> None:
    _, port = inventory
    client = _client(port, token_issuer.mint_service_token("payments", ttl_seconds=60).token)
    try:
        with caplog.at_level("INFO"), pytest.raises(InventoryBusy) as caught:
            await client.restock("p1", 2, "refund-1", "order refunded")
    finally:
        await client.close()
    assert caught.value.reason == "REQUEST_IN_PROGRESS"  # ABORTED to the caller, retryable
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_payments_reaches_inventory_over_mutual_tls(
    tmp_path, token_verifier, token_issuer
) -> None:
    ca = CertificateAuthority(tmp_path)
    inventory_cert, payments_cert = ca.issue("inventory"), ca.issue("payments")
    servicer = ScriptedInventory()
    definition = fake_inventory(servicer)
    server_tls = TlsFiles(inventory_cert.cert, inventory_cert.key, ca.cert_file)
    server = GrpcServer(definition, token_verifier, credentials=server_tls.server_credentials())
    port = await server.start()
    token = token_issuer.mint_service_token("payments", ttl_seconds=60).token
    client_tls = TlsFiles(payments_cert.cert, payments_cert.key, ca.cert_file)
    client = InventoryClient.connect(
        f"localhost:{port}", token, deadline_cap_seconds=5,
        credentials=client_tls.channel_credentials(),
    )  # fmt: skip
    plain = _client(port, token)
    try:
        assert (await client.reserve("p1", 1, "order-tls", 900)).id == "order-tls"
        with pytest.raises(InventoryUnavailable):  # plaintext to an mTLS server: refused
            await plain.reserve("p1", 1, "order-plain", 900)
    finally:
        await client.close()
        await plain.close()
        await server.stop(grace=0)


async def test_field_violations_come_through(inventory, token_issuer) -> None:
    servicer, port = inventory
    servicer.script = ["invalid"]
    client = _client(port, token_issuer.mint_service_token("payments", ttl_seconds=60).token)
    try:
        with pytest.raises(InvalidArgument) as caught:
            await client.reserve("p1", 1, "order-4", 900)
    finally:
        await client.close()
    assert [v.field for v in caught.value.violations] == ["quantity"]

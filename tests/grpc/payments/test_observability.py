"""Metrics and logs after real traffic: counts by method and code, gauges, one request id."""

from __future__ import annotations

import asyncio
import json
import logging

import grpc
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from estore.common.logs import JsonFormatter
from estore.common.server import GrpcServer
from generated.estore.payments.v1 import payment_service_pb2 as pb
from tests.grpc.payments.conftest import Shop

PAY = "/estore.payments.v1.PaymentService/"
INV = "/estore.inventory.v1.InventoryService/"


async def scrape(server: GrpcServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    await server.refresh_samples()
    text = generate_latest(server.metrics.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def order_counts(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for (name, labels), value in scraped.items()
        if name == "estore_orders"
    }


def rpcs(service: str, method: str, code: str) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {"service": service, "method": method, "code": code}
    return "estore_rpc_requests_total", frozenset(labels.items())


async def test_metrics_count_the_traffic(shop: Shop) -> None:
    product = await shop.product(quantity=10)
    good, bad = await shop.card(), await shop.card("4000000000000002")
    await shop.payments.CreateOrder(
        pb.CreateOrderRequest(product_id=product, quantity=1, payment_method_id=good),
        metadata=shop.buyer,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await shop.payments.CreateOrder(
            pb.CreateOrderRequest(product_id=product, quantity=1, payment_method_id=bad),
            metadata=shop.buyer,
        )
    await shop.payments.CreateOrder(
        pb.CreateOrderRequest(product_id=product, quantity=2), metadata=shop.buyer
    )
    payments = await scrape(shop.payments_server)
    assert payments[rpcs("payments", PAY + "CreateOrder", "OK")] == 2
    assert payments[rpcs("payments", PAY + "CreateOrder", "FAILED_PRECONDITION")] == 1
    assert payments[rpcs("payments", PAY + "AddPaymentMethod", "OK")] == 2
    expected = {"PENDING": 1, "PAID": 1, "CANCELLED": 1, "PARTIALLY_REFUNDED": 0, "REFUNDED": 0}
    for _ in range(50):  # counted from the admin listings: they lag by the indexer's lag
        if order_counts(payments) == expected:
            break
        await asyncio.sleep(0.1)
        payments = await scrape(shop.payments_server)
    assert order_counts(payments) == expected
    lag = payments[("estore_payments_indexer_lag_ms", frozenset({"service": "payments"}.items()))]
    assert 0 <= lag < 5000
    latency = ("estore_rpc_duration_seconds_count", frozenset(
        {"service": "payments", "method": PAY + "CreateOrder"}.items()
    ))  # fmt: skip
    assert payments[latency] == 3
    assert any(name == "estore_redis_connections" for name, _ in payments)

    inventory = await scrape(shop.inventory_server)
    # Payments' calls ride in batches: orders made one after another, one call each.
    assert inventory[rpcs("inventory", INV + "BatchReserveStock", "OK")] == 3
    assert inventory[rpcs("inventory", INV + "BatchCommitReservations", "OK")] == 1
    assert inventory[rpcs("inventory", INV + "BatchReleaseReservations", "OK")] == 1
    held = ("estore_reservations_held", frozenset({"service": "inventory"}.items()))
    assert inventory[held] == 1  # the PENDING order's


async def test_one_request_id_in_both_services_logs(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="estore.rpc")
    product = await shop.product(quantity=10)
    method = await shop.card()
    await shop.payments.CreateOrder(
        pb.CreateOrderRequest(product_id=product, quantity=1, payment_method_id=method),
        metadata=(*shop.buyer, ("x-request-id", "order-trace-7")),
    )
    formatter = JsonFormatter("test")
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    traced = {
        (line["service"], line["method"])
        for line in lines
        if line.get("request_id") == "order-trace-7"
    }
    assert traced >= {
        ("payments", PAY + "CreateOrder"),
        ("inventory", INV + "BatchReserveStock"),  # a batch of this request's calls only
        ("inventory", INV + "BatchCommitReservations"),
    }
    finished = next(line for line in lines if line.get("method") == PAY + "CreateOrder")
    assert {"time", "level", "service", "method", "code", "duration_ms", "request_id"} <= set(
        finished
    )
    assert finished["code"] == "OK"

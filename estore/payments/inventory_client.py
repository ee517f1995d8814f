"""Payments' only way to Inventory: gRPC calls with a deadline, retries, and mapped errors."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from estore.common import context, errors
from estore.payments.errors import (
    InsufficientStock,
    InventoryBusy,
    InventoryUnavailable,
    ProductNotFound,
    ReservationLost,
)
from generated.estore.inventory.v1 import inventory_service_pb2 as inventory_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

log = logging.getLogger("estore.payments.inventory")

SERVICE = "estore.inventory.v1.InventoryService"
# Every call we make is idempotent (reservation ids, request ids), so UNAVAILABLE is retried
# by the channel itself, with the same request, inside the call's deadline.
# Calls take turns over every address the target resolves to (`dns:///`, `ipv4:a:p,b:p`), and
# the channel watches each instance's health (grpc.health.v1 Watch on InventoryService): one
# that reports NOT_SERVING (draining, or its Redis down) gets no new calls until it recovers.
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": SERVICE},
        "methodConfig": [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


@dataclass(frozen=True)
class Reservation:
    """Inventory's hold on stock for one order."""

    id: str
    product_id: str
    quantity: int
    unit_price_minor: int
    currency: str
    expires_at: datetime
    state: str  # HELD, COMMITTED, RELEASED, EXPIRED


def _details(error: grpc.aio.AioRpcError) -> tuple[str, list[errors.FieldViolation]]:
    """The ErrorInfo reason and the BadRequest field violations Inventory sent."""
    status = rpc_status.from_call(error)
    reason, violations = "", []
    for detail in status.details if status is not None else ():
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            reason = str(info.reason)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
            violations += [
                errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
            ]
    return reason, violations


def map_inventory_error(error: grpc.aio.AioRpcError) -> errors.DomainError:
    """Turn Inventory's status into a Payments error (the one place that knows both)."""
    code, message = error.code(), error.details() or ""
    reason, violations = _details(error)
    if code == grpc.StatusCode.NOT_FOUND and reason == "PRODUCT_NOT_FOUND":
        return ProductNotFound("no such product")
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "INSUFFICIENT_STOCK":
        return InsufficientStock("not enough stock for this quantity")
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        return ReservationLost(f"inventory refused: {message}", reason=reason or None)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidArgument(message, violations=violations, reason=reason or None)
    if code == grpc.StatusCode.ABORTED:  # the same request id still in flight: not an outage
        return InventoryBusy(
            f"inventory is busy with this request: {message}", reason=reason or None
        )
    if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.error("inventory answered %s %s: %s", code.name, reason, message)
    return InventoryUnavailable("inventory is unavailable; try again")


class InventoryClient:
    """Calls InventoryService as the `service` role, forwarding the request id."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        service_token: str,
        *,
        deadline_cap_seconds: float,
    ) -> None:
        self._channel = channel
        self._stub = inventory_grpc.InventoryServiceStub(channel)
        self._token = service_token
        self._cap = deadline_cap_seconds

    @classmethod
    def connect(
        cls,
        target: str,
        service_token: str,
        *,
        deadline_cap_seconds: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> InventoryClient:
        """A client on a new channel to `target` with the retry policy."""
        options = [("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1)]
        channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        return cls(channel, service_token, deadline_cap_seconds=deadline_cap_seconds)

    def _call_options(self) -> dict[str, object]:
        remaining = context.time_remaining()
        timeout = self._cap if remaining is None else min(self._cap, remaining)
        metadata = [("authorization", f"Bearer {self._token}")]
        if request_id := context.request_id.get():
            metadata.append(("x-request-id", request_id))
        return {"timeout": timeout, "metadata": tuple(metadata)}

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(request, **self._call_options())
        except grpc.aio.AioRpcError as error:
            raise map_inventory_error(error) from None

    async def reserve(
        self, product_id: str, quantity: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation:
        """Hold `quantity` units for `reservation_id` (idempotent)."""
        request = inventory_pb.ReserveStockRequest(
            product_id=product_id,
            quantity=quantity,
            reservation_id=reservation_id,
            ttl=duration_pb2.Duration(seconds=ttl_seconds),
        )
        reply = await self._call("ReserveStock", request)
        return _reservation(reply.reservation)  # type: ignore[attr-defined]

    async def commit(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Turn the hold into a sale (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.CommitReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        reply = await self._call("CommitReservation", request)
        return _reservation(reply.reservation)  # type: ignore[attr-defined]

    async def release(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Give the held stock back (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.ReleaseReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        reply = await self._call("ReleaseReservation", request)
        return _reservation(reply.reservation)  # type: ignore[attr-defined]

    async def restock(self, product_id: str, quantity: int, request_id: str, reason: str) -> None:
        """Add `quantity` back to the product's stock, once per `request_id`."""
        request = inventory_pb.AdjustStockRequest(
            product_id=product_id, delta=quantity, reason=reason, request_id=request_id
        )
        await self._call("AdjustStock", request)

    async def close(self) -> None:
        await self._channel.close()


def _reservation(message: inventory_pb.Reservation) -> Reservation:
    state = inventory_pb.ReservationState.Name(message.state).removeprefix("RESERVATION_STATE_")
    return Reservation(
        id=message.id,
        product_id=message.product_id,
        quantity=message.quantity,
        unit_price_minor=message.unit_price.minor_units,
        currency=message.unit_price.currency_code,
        expires_at=message.expires_at.ToDatetime(tzinfo=UTC),
        state=state,
    )

"""Payments' only way to Inventory: gRPC calls with a deadline, retries, and mapped errors."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from estore.common import context, errors
from estore.payments.errors import (
    InsufficientStock,
    InventoryBusy,
    InventoryUnavailable,
    ProductNotFound,
    ReservationLost,
)
from estore.payments.inventory_batch import Batcher
from generated.estore.inventory.v1 import inventory_service_pb2 as inventory_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inventory_grpc

log = logging.getLogger("estore.payments.inventory")
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_ENTRY = re.compile(r"^entries\[\d+\]\.")

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


def _details(status: status_pb2.Status | None) -> tuple[str, list[errors.FieldViolation]]:
    """The ErrorInfo reason and the BadRequest field violations Inventory sent."""
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
    reason, violations = _details(rpc_status.from_call(error))
    return _mapped(error.code(), error.details() or "", reason, violations)


def map_entry_status(status: status_pb2.Status) -> errors.DomainError:
    """A batch entry's status as the Payments error its single call's would be: its fields
    named as the single call names them (`quantity`, not `entries[3].quantity`)."""
    reason, violations = _details(status)
    violations = [errors.FieldViolation(_ENTRY.sub("", v.field), v.description) for v in violations]
    return _mapped(
        _CODES.get(status.code, grpc.StatusCode.UNKNOWN), status.message, reason, violations
    )


def _mapped(
    code: grpc.StatusCode, message: str, reason: str, violations: list[errors.FieldViolation]
) -> errors.DomainError:
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


# A batch RPC's single counterpart; InventoryService answers at most 100 entries per batch.
SINGLES = {
    "BatchReserveStock": "ReserveStock",
    "BatchCommitReservations": "CommitReservation",
    "BatchReleaseReservations": "ReleaseReservation",
}
MAX_BATCH = 100
MAX_BATCHES_IN_FLIGHT = 2  # of each kind: more in flight would only make smaller batches


def _lapsed() -> errors.DomainError:
    """A call whose deadline passed while it waited for its batch, as DEADLINE_EXCEEDED maps."""
    return InventoryUnavailable("inventory is unavailable; try again")


class InventoryClient:
    """Calls InventoryService as the `service` role, forwarding the request id.

    Reserves, commits and releases made at the same time ride together in batch RPCs
    (inventory_batch.py); an Inventory without them (an older one, mid-deploy) gets single calls.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        service_token: str,
        *,
        deadline_cap_seconds: float,
        batching: bool = True,
    ) -> None:
        self._channel = channel
        self._stub = inventory_grpc.InventoryServiceStub(channel)
        self._token = service_token
        self._cap = deadline_cap_seconds
        self._batching = batching
        self._batch_metadata = (("authorization", f"Bearer {service_token}"),)
        self._reserves = self._batcher("BatchReserveStock", inventory_pb.BatchReserveStockRequest)
        self._commits = self._batcher(
            "BatchCommitReservations", inventory_pb.BatchCommitReservationsRequest
        )
        self._releases = self._batcher(
            "BatchReleaseReservations", inventory_pb.BatchReleaseReservationsRequest
        )

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

    def _timeout(self) -> float:
        remaining = context.time_remaining()
        return self._cap if remaining is None else min(self._cap, remaining)

    def _call_options(self) -> dict[str, object]:
        metadata = [("authorization", f"Bearer {self._token}")]
        if request_id := context.request_id.get():
            metadata.append(("x-request-id", request_id))
        return {"timeout": self._timeout(), "metadata": tuple(metadata)}

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(request, **self._call_options())
        except grpc.aio.AioRpcError as error:
            raise map_inventory_error(error) from None

    def _batcher(self, method: str, message: type[Any]) -> Batcher[Any, Any]:
        """The batcher of one single RPC (`method` less its Batch prefix), sending `message`s."""
        single = SINGLES[method]

        async def send(entries: list[Any], within: float) -> list[Any]:
            if not self._batching:  # Inventory does not batch: one call each, at once
                return await self._singles(single, entries, within)
            try:
                reply = await getattr(self._stub, method)(
                    message(entries=entries), timeout=within, metadata=self._batch_metadata
                )
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("inventory has no %s; sending single calls", method)
                    self._batching = False
                    return await self._singles(single, entries, within)
                return [map_inventory_error(error) for _ in entries]  # one error each
            return [
                r.reservation if r.HasField("reservation") else map_entry_status(r.error)
                for r in reply.results
            ]

        return Batcher(send, _lapsed, max_entries=MAX_BATCH, max_in_flight=MAX_BATCHES_IN_FLIGHT)

    async def _singles(self, method: str, entries: list[Any], within: float) -> list[Any]:
        async def one(entry: Any) -> Any:
            try:
                reply = await getattr(self._stub, method)(
                    entry, timeout=within, metadata=self._batch_metadata
                )
            except grpc.aio.AioRpcError as error:
                return map_inventory_error(error)
            return reply.reservation

        return list(await asyncio.gather(*(one(entry) for entry in entries)))

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
        return _reservation(await self._reserves.call(request, self._timeout()))

    async def commit(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Turn the hold into a sale (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.CommitReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        return _reservation(await self._commits.call(request, self._timeout()))

    async def release(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Give the held stock back (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.ReleaseReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        return _reservation(await self._releases.call(request, self._timeout()))

    async def restock(self, product_id: str, quantity: int, request_id: str, reason: str) -> None:
        """Add `quantity` back to the product's stock, once per `request_id`."""
        request = inventory_pb.AdjustStockRequest(
            product_id=product_id, delta=quantity, reason=reason, request_id=request_id
        )
        await self._call("AdjustStock", request)

    async def close(self) -> None:
        for batcher in (self._reserves, self._commits, self._releases):
            await batcher.close()
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

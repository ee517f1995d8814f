"""Payments' only way to Inventory: gRPC calls with a deadline, retries, and mapped errors."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import duration_pb2

from estore.common import context, errors
from estore.payments.errors import InventoryUnavailable
from estore.payments.inventory_batch import Batcher, Slots
from estore.payments.inventory_errors import map_entry_status, map_inventory_error
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


# A batch RPC's single counterpart; InventoryService answers at most 100 entries per batch.
SINGLES = {
    "BatchReserveStock": "ReserveStock",
    "BatchCommitReservations": "CommitReservation",
    "BatchReleaseReservations": "ReleaseReservation",
}
MAX_BATCH = 100
# One batch out at a time, whatever its kind: the calls made meanwhile leave together when it
# returns. Measured with `estore bench` (create_order): with 2 in flight of each kind nearly every
# batch held one call and a gRPC hop each; with 1 of each, batches of 2 to 6 and a fifth less CPU
# per order; with 1 shared by the kinds, reserves ride 3.4 to a batch and commits 4, Inventory's
# CPU per order fell by a third and Payments' with it (and p50 and p99 shortened).
MAX_BATCHES_IN_FLIGHT = 1


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
        self._slots = Slots(MAX_BATCHES_IN_FLIGHT)  # shared by the three kinds of batch
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

    def _metadata(self, request_id: str) -> tuple[tuple[str, str], ...]:
        authorization = ("authorization", f"Bearer {self._token}")
        return (authorization, ("x-request-id", request_id)) if request_id else (authorization,)

    def _call_options(self) -> dict[str, object]:
        return {"timeout": self._timeout(), "metadata": self._metadata(context.request_id.get())}

    async def _batched(self, batcher: Batcher[Any, Any], request: object) -> Reservation:
        tagged = (request, context.request_id.get())
        return _reservation(await batcher.call(tagged, self._timeout()))

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(request, **self._call_options())
        except grpc.aio.AioRpcError as error:
            raise map_inventory_error(error) from None

    def _batcher(self, method: str, message: type[Any]) -> Batcher[Any, Any]:
        """The batcher of one single RPC (`method` less its Batch prefix), sending `message`s."""
        single = SINGLES[method]

        async def send(tagged: list[tuple[Any, str]], within: float) -> list[Any]:
            if not self._batching:  # Inventory does not batch: one call each, at once
                return await self._singles(single, tagged, within)
            entries = [entry for entry, _ in tagged]
            # One request's calls (a basket's lines) keep its id; a batch of several has none.
            request_ids = {request_id for _, request_id in tagged}
            try:
                reply = await getattr(self._stub, method)(
                    message(entries=entries),
                    timeout=within,
                    metadata=self._metadata(request_ids.pop() if len(request_ids) == 1 else ""),
                )
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("inventory has no %s; sending single calls", method)
                    self._batching = False
                    return await self._singles(single, tagged, within)
                return [map_inventory_error(error) for _ in entries]  # one error each
            return [
                r.reservation if r.HasField("reservation") else map_entry_status(r.error)
                for r in reply.results
            ]

        return Batcher(send, _lapsed, max_entries=MAX_BATCH, slots=self._slots)

    async def _singles(
        self, method: str, tagged: list[tuple[Any, str]], within: float
    ) -> list[Any]:
        async def one(entry: Any, request_id: str) -> Any:
            try:
                reply = await getattr(self._stub, method)(
                    entry, timeout=within, metadata=self._metadata(request_id)
                )
            except grpc.aio.AioRpcError as error:
                return map_inventory_error(error)
            return reply.reservation

        return list(await asyncio.gather(*(one(*entry) for entry in tagged)))

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
        return await self._batched(self._reserves, request)

    async def commit(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Turn the hold into a sale (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.CommitReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        return await self._batched(self._commits, request)

    async def release(self, reservation_id: str, product_id: str = "") -> Reservation:
        """Give the held stock back (idempotent); naming its product saves Inventory a read."""
        request = inventory_pb.ReleaseReservationRequest(
            reservation_id=reservation_id, product_id=product_id
        )
        return await self._batched(self._releases, request)

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

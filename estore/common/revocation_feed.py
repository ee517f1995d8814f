"""Following UserService's revocation feed in the background, into a RevocationList."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import grpc

from estore.common.revocations import Revocation, RevocationList
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

log = logging.getLogger("estore.revocations")

PAGE_SIZE = 500
CHANNEL_OPTIONS = (
    # After UserService comes back, reconnect within a second, not after grpc's default backoff
    # (up to two minutes), during which admin powers would stay suspended.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Subchannels of our own: a failed connection here never makes other channels fail fast.
    ("grpc.use_local_subchannel_pool", 1),
)
Fetch = Callable[[int, int], Awaitable[Sequence[Revocation]]]  # (after id, limit) -> page


class RevocationFollower:
    """Polls the feed every `interval` seconds and applies what is new; never raises."""

    def __init__(
        self, revocations: RevocationList, fetch: Fetch, *, interval: float, timeout: float
    ) -> None:
        self._revocations = revocations
        self._fetch = fetch
        self._interval = interval
        self._timeout = timeout  # for one catch-up; a hung read must not stall the loop
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._stopping = False

    async def catch_up(self) -> None:
        """Read the feed to its end, then vouch for everything committed before the read began."""
        started = time.monotonic()
        while True:
            page = await self._fetch(self._revocations.cursor, PAGE_SIZE)
            self._revocations.apply(page)
            if len(page) < PAGE_SIZE:
                break
        self._revocations.confirm(started)

    async def start(self) -> None:
        """One catch-up now (so a service starts with current knowledge if it can), then poll."""
        await self._poll()
        self._task = asyncio.create_task(self._loop(), name="revocation-feed")

    async def stop(self) -> None:
        self._stopping = True  # the loop ends even if a cancellation gets lost in a poll
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._interval)
            await self._poll()

    async def _poll(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self.catch_up()
        except Exception as error:
            if not self._failing:  # once per outage, not once a second
                log.warning(
                    "cannot read the revocation feed; admin powers fail closed if this lasts",
                    extra={"error": f"{type(error).__name__}: {error}"},
                )
            self._failing = True
            return
        if self._failing:
            log.info("revocation feed read again")
        self._failing = False


class RevocationFeedClient:
    """UserService's ListRevocations over gRPC, with a service token and a deadline."""

    def __init__(self, channel: grpc.aio.Channel, service_token: str, deadline: float) -> None:
        self._channel = channel
        self._stub = users_grpc.UserServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._deadline = deadline

    @classmethod
    def connect(
        cls,
        target: str,
        service_token: str,
        *,
        deadline: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> RevocationFeedClient:
        """A client for UserService at `target` (TLS when `credentials` are given)."""
        if credentials is None:
            channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        return cls(channel, service_token, deadline)

    async def fetch(self, after_id: int, limit: int) -> list[Revocation]:
        """One page of the feed after `after_id`."""
        request = users_pb.ListRevocationsRequest(after_id=after_id, page_size=limit)
        reply = await self._stub.ListRevocations(
            request, metadata=self._metadata, timeout=self._deadline
        )
        return [
            Revocation(
                id=item.id,
                user_id=item.user_id,
                expires_at=item.expires_at.seconds + item.expires_at.nanos / 1e9,
                below_generation=item.below_generation,
                session_id=item.session_id,
            )
            for item in reply.revocations
        ]

    async def close(self) -> None:
        await self._channel.close()
